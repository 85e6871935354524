"""The dataset library: one row per JSONL training file under the data root's datasets/ folder."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from datasets_app.library.validation.scoring import BANDS
from rmnconsole.core.jobs import QueuedJob
from rmnconsole.core.rows import NamedVersionMixin


class Dataset(NamedVersionMixin, models.Model):
    """A training file (SFT or DPO), its detected format, and its last validation report and quality score."""

    class Type(models.TextChoices):
        SFT = "sft", "SFT"
        DPO = "dpo", "DPO"

    class Format(models.TextChoices):
        MESSAGES = "messages", "Conversational (messages)"
        PROMPT_COMPLETION = "prompt_completion", "Prompt / completion"
        PREFERENCE = "preference", "Preference (prompt / chosen / rejected)"
        IMPLICIT_PREFERENCE = "implicit_preference", "Implicit-prompt preference (chosen / rejected)"
        UNKNOWN = "", "Not detected"

    # The quality bands are the scoring engine's (its thresholds decide them); NONE: not scored yet.
    Band = models.TextChoices(
        "Band",
        [(key.upper(), (key, label)) for _floor, key, label, _meaning in BANDS] + [("NONE", ("", "—"))],
    )

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        VALIDATING = "validating", "Validating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200, db_index=True)
    dataset_type = models.CharField(max_length=10, choices=Type.choices, default=Type.SFT)
    format = models.CharField(max_length=30, choices=Format.choices, blank=True)
    path = models.CharField(
        max_length=500, unique=True, help_text="Relative to the data root, under datasets/."
    )
    size_bytes = models.BigIntegerField(default=0)
    num_examples = models.IntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1)
    quality_score = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=10, choices=Band.choices, blank=True)
    report = models.JSONField(default=dict, blank=True)
    # What users see; a background validation's queue, worker, heartbeat and progress live on its own row.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_reason = models.TextField(blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    FINISHED = ("ready", "failed")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="dataset_name_version_unique")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def refresh_from_db(self, *args, **kwargs) -> None:
        self.__dict__.pop("_latest_validation", None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def latest_validation(self) -> DatasetValidation | None:
        """The newest validation row (read once per object: a page renders the progress bar several times)."""
        if not hasattr(self, "_latest_validation"):
            self._latest_validation = self.validations.order_by("-created_at", "-pk").first()
        return self._latest_validation

    @property
    def progress_pct(self) -> float:
        """The progress bar: the background validation's while one is active, else 100 once validated."""
        if self.status in self.FINISHED:
            return 100.0
        validation = self.latest_validation
        return validation.progress_pct if validation is not None else 0.0

    @property
    def failing_checks(self) -> list[dict[str, Any]]:
        """The report's checks that did not pass, worst first (what the quality gate names)."""
        checks = (self.report or {}).get("checks", {})
        failing = [c for c in checks.values() if c.get("status") != "pass"]
        return sorted(failing, key=lambda c: (c.get("status") != "fail", c.get("score", 1.0)))

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("checks", {}).values())


class DatasetValidation(QueuedJob):
    """One background validation of a dataset (queue `default`): what it was asked, how far it got, what it found.

    The dataset row keeps what users see (status, score, report); this row is the job (rq id, worker, heartbeat)."""

    task_path = "datasets_app.library.tasks.validate_dataset_task"
    default_queue = "default"
    rq_job_prefix = "dataset-validation"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="validations")
    # What it was asked for (a re-enqueued job measures the same way): base_model (tokenizer), max_seq_len.
    options = models.JSONField(default=dict, blank=True)
    progress_pct = models.FloatField(default=0.0)
    quality_score = models.FloatField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="Score, band and examples it found.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"validation {self.pk} of dataset {self.dataset_id} ({self.status})"
