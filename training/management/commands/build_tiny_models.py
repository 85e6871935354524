"""Build the tiny Llama / Mistral models locally and register them (idempotent)."""

from django.core.management.base import BaseCommand

from training.model_registry import build_and_register_tiny_models, seed_known_models


class Command(BaseCommand):
    help = "Build tiny-llama and tiny-mistral under the data root (offline) and register them as base models."

    def add_arguments(self, parser):
        parser.add_argument(
            "--steps", type=int, default=300, help="Pre-training steps per model (default 300)."
        )
        parser.add_argument("--force", action="store_true", help="Rebuild even if an identical build exists.")

    def handle(self, *args, steps: int, force: bool, **options):
        for info in build_and_register_tiny_models(steps=steps, force=force):
            if info.built:
                self.stdout.write(
                    f"built {info.name}: {info.parameter_count:,} parameters, final loss {info.final_loss:.3f}, {info.seconds:.0f}s"
                )
            else:
                self.stdout.write(f"{info.name} already built at {info.path}")
        for model in seed_known_models():
            state = "available" if model.is_available else f"not available ({model.availability_note})"
            self.stdout.write(f"{model.name}: {state}")
