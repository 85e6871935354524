"""manage.py federated {silos,register-silo,submit,status,cancel}: the CLI door of federated training."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from rmnconsole.core.errors import ServiceError
from training.federated import services


class Command(BaseCommand):
    help = "Federated learning on Flower: list silos (online/offline), register a silo, submit/follow/cancel a job."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("silos", help="List silos with their status from the SuperLink.")
        reg = sub.add_parser("register-silo", help="Register a silo's SuperNode key with the SuperLink.")
        reg.add_argument("name")
        reg.add_argument("--retailer", required=True)
        reg.add_argument("--host", required=True, help="Where the silo's SuperNode runs.")
        reg.add_argument("--node-config", required=True, help='e.g. dataset-path="/srv/silo/train.jsonl"')
        reg.add_argument("--public-key-file", required=True, help="The SuperNode's EC public key (OpenSSH).")
        sub_ = sub.add_parser("submit", help="Queue a federated training job; prints its id.")
        sub_.add_argument("adapter_name")
        sub_.add_argument("--base-model", required=True)
        sub_.add_argument("--silos", required=True, help="Comma-separated silo names.")
        sub_.add_argument("--training-type", default="sft", choices=["sft", "dpo"])
        sub_.add_argument("--rounds", type=int, default=3)
        sub_.add_argument("--local-steps", type=int, default=10)
        sub_.add_argument("--fraction-train", type=float, default=1.0)
        sub_.add_argument("--min-silos", type=int, default=2)
        sub_.add_argument("--strategy", default="fedavg", choices=["fedavg", "fedprox"])
        sub_.add_argument("--proximal-mu", type=float, default=0.0)
        sub_.add_argument("--server-learning-rate", type=float, default=1.0)
        sub_.add_argument("--privacy", default="off", choices=["off", "client-fixed"])
        sub_.add_argument("--dp-noise-multiplier", type=float, default=1.0)
        sub_.add_argument("--dp-clipping-norm", type=float, default=1.0)
        sub_.add_argument("--dp-delta", type=float, default=1e-5)
        sub_.add_argument(
            "--config", default="{}", help="JSON of LoRA/optimiser settings (lora_r, learning_rate …)."
        )
        sub_.add_argument(
            "--no-eval", action="store_true", help="Skip the per-round evaluation on each silo."
        )
        status = sub.add_parser("status", help="Show a job as JSON.")
        status.add_argument("job_id", type=int)
        cancel = sub.add_parser("cancel", help="Cancel a job (stops its Flower run).")
        cancel.add_argument("job_id", type=int)

    def handle(self, *args, **o):
        try:
            getattr(self, "_" + o["verb"].replace("-", "_"))(o)
        except ServiceError as exc:
            raise CommandError(exc.message) from None

    def _silos(self, o):
        silos, problem = services.refresh_silo_status()
        if problem:
            self.stderr.write(problem)
        for s in silos:
            self.stdout.write(
                f"{s.name}\t{s.retailer}\t{s.supernode_host}\tnode {s.node_id}\t{s.last_status}"
            )

    def _register_silo(self, o):
        try:
            with open(o["public_key_file"], encoding="utf-8") as fh:
                key = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read the public key file: {exc.strerror}") from None
        silo = services.register_silo(
            o["name"],
            retailer=o["retailer"],
            supernode_host=o["host"],
            node_config=o["node_config"],
            public_key=key,
        )
        self.stdout.write(f"silo {silo.name} registered as Flower node {silo.node_id}")

    def _submit(self, o):
        try:
            config = json.loads(o["config"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not valid JSON: {exc.msg}") from None
        job = services.submit_federated_job(
            adapter_name=o["adapter_name"],
            base_model=o["base_model"],
            silos=[s for s in o["silos"].split(",") if s.strip()],
            training_type=o["training_type"],
            config=config if isinstance(config, dict) else None,
            num_rounds=o["rounds"],
            local_steps=o["local_steps"],
            fraction_train=o["fraction_train"],
            min_silos=o["min_silos"],
            strategy=o["strategy"],
            proximal_mu=o["proximal_mu"],
            server_learning_rate=o["server_learning_rate"],
            privacy=o["privacy"],
            dp_noise_multiplier=o["dp_noise_multiplier"],
            dp_clipping_norm=o["dp_clipping_norm"],
            dp_delta=o["dp_delta"],
            evaluate_each_round=not o["no_eval"],
        )
        self.stdout.write(str(job.pk))

    def _status(self, o):
        from training.federated.api import JobOut

        job = services.get_federated_job(o["job_id"])
        sys.stdout.write(JobOut.from_orm(job).model_dump_json(indent=2) + "\n")

    def _cancel(self, o):
        job = services.cancel_federated_job(o["job_id"])
        self.stdout.write(f"job {job.pk}: {job.status} ({job.message})")
