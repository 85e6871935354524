"""A sweep: an Optuna study over training hyperparameters; its trials are TrainingJob rows that point back at it."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from rmnconsole.core.jobs import QueuedJob


class Sweep(QueuedJob):
    """A sweep is a row on the queued-job base with no RQ task of its own: it advances whenever a trial ends
    (the training task's end, or the recovery loop's upkeep), under a row lock, from what the database holds."""

    task_path = "training.sweeps.tasks.advance_sweep_task"
    default_queue = "default"
    rq_job_prefix = "sweep"

    name = models.CharField(max_length=100)
    adapter_type = models.CharField(max_length=20)
    adapter_name = models.SlugField(max_length=80, help_text="Trials are named <adapter_name>-t<N>.")
    base_model = models.ForeignKey(
        "training.FoundationModel", on_delete=models.PROTECT, related_name="sweeps"
    )
    training_type = models.CharField(max_length=10, default="sft")
    dataset_path = models.CharField(max_length=500)
    quality_override = models.BooleanField(default=False)
    fixed_config = models.JSONField(default=dict, blank=True)
    search_space = models.JSONField(default=dict)
    sampler = models.CharField(max_length=20, default="tpe")
    seed = models.IntegerField(null=True, blank=True)
    objective = models.CharField(max_length=40, default="eval_loss")
    direction = models.CharField(max_length=10, default="minimize")
    second_objective = models.CharField(max_length=40, blank=True)
    objective_options = models.JSONField(
        default=dict, blank=True, help_text='For an objective measured after training, e.g. {"suite": 3}.'
    )
    pruner = models.CharField(max_length=20, default="none")
    pruner_threshold = models.FloatField(null=True, blank=True)
    max_trials = models.PositiveIntegerField()
    max_parallel = models.PositiveIntegerField(default=1)
    wall_clock_minutes = models.FloatField(null=True, blank=True)
    keep_trial_adapters = models.BooleanField(
        default=False, help_text="Keep every trial's adapter, not only the best."
    )
    study_name = models.CharField(max_length=120, unique=True)
    best_trial = models.IntegerField(null=True, blank=True)
    best_value = models.FloatField(null=True, blank=True)
    best_job = models.ForeignKey(
        "training.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    best_adapter = models.ForeignKey(
        "training.Adapter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stopping = models.CharField(max_length=200, blank=True, help_text="Why no more trials are asked for.")

    class Meta:
        ordering = ["-created_at", "-id"]
        db_table = "training_sweep"

    def __str__(self) -> str:
        return f"sweep #{self.pk} {self.name}"

    @property
    def deadline(self):
        if not self.wall_clock_minutes or not self.started_at:
            return None
        return self.started_at + timedelta(minutes=self.wall_clock_minutes)
