"""Silos (one retailer's SuperNode each) and federated training jobs on the queued-job base."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from rmnconsole.core.jobs import QueuedJob


class Silo(models.Model):
    """A retailer's silo: where its Flower SuperNode runs and the node config it was started with.

    The node config names the silo-local dataset path on the silo's host; the console stores it to show the
    operator the `flower-supernode --node-config` line, and never opens it. `node_id` is the id the SuperLink
    gave the silo's public key at registration (Flower node authentication), so the SuperLink's node list
    tells whether this silo is online.
    """

    name = models.CharField(max_length=100, unique=True)
    retailer = models.CharField(max_length=100)
    supernode_host = models.CharField(max_length=200, help_text="Where the silo's SuperNode runs (host).")
    node_config = models.JSONField(default=dict, help_text="Passed to flower-supernode --node-config.")
    public_key = models.TextField(help_text="The SuperNode's EC public key (OpenSSH format).")
    node_id = models.CharField(
        max_length=32, blank=True, help_text="Flower's node id (an unsigned 64-bit int)."
    )
    last_status = models.CharField(max_length=20, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        app_label = "training"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def node_config_line(self) -> str:
        import json

        return " ".join(f"{k}={json.dumps(v)}" for k, v in self.node_config.items())


class FederatedStrategy(models.TextChoices):
    FEDAVG = "fedavg", "FedAvg (weighted by examples)"
    FEDPROX = "fedprox", "FedProx"


class PrivacyMode(models.TextChoices):
    OFF = "off", "Off"
    CLIENT_FIXED = "client-fixed", "Client-side DP (fixed clipping + Gaussian noise)"


class FederatedTrainingJob(QueuedJob):
    """One Flower run against the SuperLink; its horse follows the run and registers the aggregated adapter."""

    task_path = "training.federated.tasks.run_federated_job"
    default_queue = "default"  # the horse drives Flower; the silos do the training
    rq_job_prefix = "fedjob"

    adapter_name = models.CharField(max_length=100)
    base_model = models.ForeignKey("training.FoundationModel", on_delete=models.PROTECT, related_name="+")
    training_type = models.CharField(max_length=10, default="sft")
    config = models.JSONField(default=dict, help_text="TrainingConfig (LoRA + optimiser) every silo uses.")
    silos = models.ManyToManyField(Silo, related_name="jobs")
    num_rounds = models.PositiveIntegerField(default=3)
    local_steps = models.PositiveIntegerField(default=10)
    fraction_train = models.FloatField(default=1.0)
    min_silos = models.PositiveIntegerField(default=2)
    strategy = models.CharField(
        max_length=20, choices=FederatedStrategy.choices, default=FederatedStrategy.FEDAVG
    )
    proximal_mu = models.FloatField(default=0.0)
    server_learning_rate = models.FloatField(
        default=1.0,
        help_text="FedAvg: the server's step along the example-weighted average update (1 = plain FedAvg).",
    )
    privacy = models.CharField(max_length=20, choices=PrivacyMode.choices, default=PrivacyMode.OFF)
    dp_noise_multiplier = models.FloatField(default=1.0)
    dp_clipping_norm = models.FloatField(default=1.0)
    dp_delta = models.FloatField(default=1e-5)
    secagg = models.BooleanField(default=False)
    evaluate_each_round = models.BooleanField(default=True)
    record_silo_adapters = models.BooleanField(
        default=False,
        help_text="Audit/test mode: keep each silo's returned adapter per round in the run folder.",
    )
    round_timeout = models.FloatField(default=3600.0)

    flower_run_id = models.CharField(max_length=32, blank=True)
    run_folder = models.CharField(
        max_length=500, blank=True, help_text="Absolute: the run folder shared with the SuperLink host."
    )
    current_round = models.PositiveIntegerField(default=0)
    progress_pct = models.FloatField(default=0.0)
    message = models.CharField(max_length=300, blank=True)
    epsilon = models.FloatField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    lineage = models.JSONField(default=dict, blank=True)
    adapter = models.ForeignKey(
        "training.Adapter", null=True, blank=True, on_delete=models.SET_NULL, related_name="federated_jobs"
    )

    class Meta:
        app_label = "training"
        ordering = ["-created_at"]
        verbose_name = "federated training job"

    def enqueue_options(self) -> dict:
        return {"job_timeout": 24 * 3600, "description": f"federated training {self.adapter_name}"}

    def __str__(self) -> str:
        return f"federated {self.adapter_name} ({self.status})"


class SiloRound(models.Model):
    """What one silo did in one round: its training loss and examples, or the aggregate's eval on its data,
    or why it failed / dropped. Counts and losses only — never any of the silo's rows."""

    job = models.ForeignKey(FederatedTrainingJob, on_delete=models.CASCADE, related_name="silo_rounds")
    round = models.PositiveIntegerField()
    phase = models.CharField(max_length=10)  # train | evaluate
    silo_name = models.CharField(max_length=100)
    ok = models.BooleanField(default=True)
    loss = models.FloatField(null=True, blank=True)
    examples = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "training"
        ordering = ["job", "round", "phase", "silo_name"]
        indexes = [models.Index(fields=["job", "round"], name="training_siloround_job_round")]

    def __str__(self) -> str:
        return f"job {self.job_id} round {self.round} {self.phase} {self.silo_name}"
