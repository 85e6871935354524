"""manage.py sweep FILE [--wait]: start a hyperparameter sweep from a YAML or JSON spec, optionally follow it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError
from training.sweeper import sweep_training_jobs
from training.sweeps import services
from training.sweeps.models import Sweep


def read_spec(path: str) -> dict:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        spec = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CommandError(
            f"{path} is not valid {'JSON' if file.suffix.lower() == '.json' else 'YAML'}: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(spec, dict):
        raise CommandError(f"{path} must hold a mapping of sweep fields (name, search_space, max_trials …)")
    return spec


class Command(BaseCommand):
    help = "Start a hyperparameter sweep (Optuna) from a YAML/JSON spec; --wait shows its progress until it ends."

    def add_arguments(self, parser):
        parser.add_argument("file", help="YAML or JSON sweep spec (fields as POST /api/sweeps).")
        parser.add_argument(
            "--wait", action="store_true", help="Follow the sweep with a progress bar until it ends."
        )
        parser.add_argument(
            "--poll", type=float, default=2.0, help="Seconds between progress checks with --wait."
        )

    def handle(self, *args, **options):
        spec = read_spec(options["file"])
        try:
            sweep = services.start_sweep(spec)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"sweep {sweep.pk} started: {sweep.name}, {sweep.max_trials} trials ({sweep.sampler}), "
            f"{sweep.trials.count()} submitted"
        )
        if not options["wait"]:
            return
        self._follow(sweep, options["poll"])

    def _follow(self, sweep: Sweep, poll: float) -> None:
        from tqdm import tqdm

        bar = tqdm(total=sweep.max_trials, unit="trial", desc=f"sweep {sweep.pk}", file=self.stderr._out)
        try:
            while True:
                # The recovery loop does this when the console runs; a lone CLI does it for its own sweep.
                sweep_training_jobs(list(sweep.trials.values_list("pk", flat=True)))
                services.advance_sweep(sweep.pk)
                sweep.refresh_from_db()
                settled = sweep.trials.filter(status__in=sweep.trials.model.FINISHED).count()
                bar.n = settled
                bar.set_postfix_str(f"best {sweep.best_value:.4f}" if sweep.best_value is not None else "")
                bar.refresh()
                if sweep.status != Sweep.Status.RUNNING:
                    break
                time.sleep(poll)
        finally:
            bar.close()
        if sweep.status != Sweep.Status.COMPLETED:
            raise CommandError(f"sweep {sweep.pk} {sweep.status}: {sweep.status_reason}")
        self.stdout.write(f"sweep {sweep.pk} completed: {sweep.status_reason}")
