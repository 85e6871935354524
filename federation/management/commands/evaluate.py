"""manage.py evaluate SUBJECT --suite S [--wait]: queue an eval run (SUBJECT: base:NAME, adapter:NAME[ vN],
federation:NAME) and, with --wait, show its progress (a tqdm bar on stderr) until it ends; an error is one line and
a non-zero exit."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from federation.evaluation import services
from federation.evaluation.facade import run_figures
from federation.evaluation.models import EvalRun
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.follow import wait_for_completion


class Command(BaseCommand):
    help = (
        "Evaluate a base model, an adapter or a federation on an eval suite (queued on the inference queue)."
    )

    def add_arguments(self, parser):
        parser.add_argument("subject", help="base:NAME, adapter:NAME[ vN], federation:NAME, or a bare name")
        parser.add_argument("--suite", required=True, help="Suite id, name (latest version) or 'name vN'")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--max-new-tokens", type=int, default=None)
        parser.add_argument("--wait", action="store_true", help="Show progress until the run ends.")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between progress checks.")

    def handle(self, *args, **options):
        try:
            run = services.submit_eval(
                options["subject"], options["suite"], seed=options["seed"], batch_size=options["batch_size"],
                max_new_tokens=options["max_new_tokens"],
            )  # fmt: skip
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"eval run {run.pk} queued: {run.subject_label} on {run.suite.label}")
        if not options["wait"]:
            return
        from tqdm import tqdm

        from federation.evaluation.tasks import run_eval

        with tqdm(
            total=max(run.progress_total, 1), unit="case", desc=f"eval {run.pk}", file=self.stderr._out
        ) as progress:

            def show(current: EvalRun) -> str:
                progress.n = current.progress_done
                progress.set_postfix_str(current.status, refresh=False)
                progress.refresh()
                return ""  # the bar is the progress; only other lines reach stdout

            run = wait_for_completion(
                run,
                run_eval,
                show,
                lambda text: text and self.stdout.write(text),
                verb="evaluating",
                what="eval run",
                poll=options["poll"],
            )
        figures = run_figures(run)
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in figures["metrics"].items() if v is not None)
        self.stdout.write(
            self.style.SUCCESS(
                f"{run.subject_label} on {run.suite.label}: score {run.score if run.score is not None else float('nan'):.3f}"
                f" ({metrics}); latency p50 {run.latency_p50_ms or 0:.0f} ms, p95 {run.latency_p95_ms or 0:.0f} ms"
            )
        )
