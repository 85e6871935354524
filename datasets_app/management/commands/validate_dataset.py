"""manage.py validate_dataset datasets/amazon.jsonl [--type sft|dpo] [--base-model NAME --max-seq-len N] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from datasets_app.library.facade import validate_dataset
from rmnconsole.core.errors import ServiceError


class Command(BaseCommand):
    help = "Validate a JSONL under the data root's datasets/ folder (adding it to the library) and print its quality score."

    def add_arguments(self, parser):
        parser.add_argument("path", help="e.g. datasets/amazon.jsonl")
        parser.add_argument("--type", choices=["sft", "dpo"], dest="dataset_type")
        parser.add_argument(
            "--base-model", help="a registered base model whose tokenizer measures token lengths"
        )
        parser.add_argument("--max-seq-len", type=int)
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")

    def handle(self, *args, **options):
        try:
            report = validate_dataset(
                options["path"],
                dataset_type=options["dataset_type"],
                base_model=options["base_model"],
                max_seq_len=options["max_seq_len"],
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(
            f"{report['path']}: {report['quality_score']:g} / 100 ({report['band_label']}) — {report['examples']} examples, "
            f"format {report['format'] or 'not detected'}, dataset id {report['dataset_id']}"
        )
        for check in report["checks"].values():
            if check["status"] != "pass":
                lines = ", ".join(map(str, check["examples"][:10]))
                self.stdout.write(
                    f"  {check['status']:4s} {check['label']}: {check['count']} of {check['total']} (lines {lines or '—'})"
                )
        for cap in report["caps"]:
            if cap["applied"]:
                self.stdout.write(f"  cap  score at most {cap['cap']:g}: {cap['reason']}")
