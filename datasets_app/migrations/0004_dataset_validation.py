"""Background validations get a row of their own (DatasetValidation, a queued job): the dataset keeps what users see
(status, score, report); the job's rq id, worker, heartbeat, options and progress move onto its validation row."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The dataset's status → its validation's, for rows that were validated in the background (they had an rq job id).
STATUS = {"pending": "queued", "validating": "running", "ready": "completed", "failed": "failed"}


def move_jobs_to_validations(apps, schema_editor):
    Dataset = apps.get_model("datasets_app", "Dataset")
    DatasetValidation = apps.get_model("datasets_app", "DatasetValidation")
    for dataset in Dataset.objects.exclude(rq_job_id="").iterator():
        status = STATUS.get(dataset.status, "failed")
        finished = status in ("completed", "failed")
        validation = DatasetValidation.objects.create(
            dataset=dataset,
            status=status,
            status_reason=dataset.status_reason if status == "failed" else "",
            rq_job_id=dataset.rq_job_id,
            queue_name="default",
            worker=dataset.worker,
            heartbeat_at=dataset.heartbeat_at,
            started_at=dataset.heartbeat_at if status != "queued" else None,
            finished_at=dataset.validated_at if finished else None,
            options=dataset.validation_options or {},
            progress_pct=100.0 if finished else dataset.progress_pct,
            quality_score=dataset.quality_score if status == "completed" else None,
            created_by_id=dataset.created_by_id,
        )
        # auto_now_add stamped "now": the validation is as old as the dataset's job.
        DatasetValidation.objects.filter(pk=validation.pk).update(created_at=dataset.created_at)


def move_back(apps, schema_editor):
    Dataset = apps.get_model("datasets_app", "Dataset")
    DatasetValidation = apps.get_model("datasets_app", "DatasetValidation")
    for validation in DatasetValidation.objects.order_by("dataset_id", "created_at", "pk").iterator():
        Dataset.objects.filter(pk=validation.dataset_id).update(
            rq_job_id=validation.rq_job_id[:64],
            worker=validation.worker,
            heartbeat_at=validation.heartbeat_at,
            validation_options=validation.options,
            progress_pct=validation.progress_pct,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("datasets_app", "0003_validation_heartbeat"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DatasetValidation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        db_index=True,
                        default="queued",
                        max_length=20,
                    ),
                ),
                ("status_reason", models.TextField(blank=True)),
                ("rq_job_id", models.CharField(blank=True, max_length=100)),
                ("queue_name", models.CharField(blank=True, max_length=100)),
                (
                    "worker",
                    models.CharField(
                        blank=True, help_text="host:pid of the process that runs it.", max_length=200
                    ),
                ),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("options", models.JSONField(blank=True, default=dict)),
                ("progress_pct", models.FloatField(default=0.0)),
                ("quality_score", models.FloatField(blank=True, null=True)),
                (
                    "summary",
                    models.JSONField(
                        blank=True, default=dict, help_text="Score, band and examples it found."
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="validations",
                        to="datasets_app.dataset",
                    ),
                ),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.RunPython(move_jobs_to_validations, move_back),
        migrations.RemoveField(model_name="dataset", name="heartbeat_at"),
        migrations.RemoveField(model_name="dataset", name="progress_pct"),
        migrations.RemoveField(model_name="dataset", name="rq_job_id"),
        migrations.RemoveField(model_name="dataset", name="validation_options"),
        migrations.RemoveField(model_name="dataset", name="worker"),
    ]
