"""Data sources (retailer files under the data root) and versioned schema mappings to RMIS."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q

from rmnconsole.core.paths import data_root


class DataSource(models.Model):
    """A CSV / JSONL / Parquet file under the data root's sources/ folder that the browser and mappings read."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON lines"
        PARQUET = "parquet", "Parquet"

    class Kind(models.TextChoices):
        EVENTS = "events", "Retailer events"
        CATALOG = "catalog", "SKU catalog"
        PRIORS = "priors", "Uplift priors"
        METRICS = "metrics", "Performance metrics"
        OTHER = "other", "Other"

    class TimeFormat(models.TextChoices):
        ISO = "iso", "ISO text (offset kept, else the time zone)"
        EPOCH_S = "epoch_s", "Epoch seconds"
        EPOCH_MS = "epoch_ms", "Epoch milliseconds"
        DATE = "date", "Date only"

    name = models.CharField(max_length=120, unique=True)
    retailer = models.SlugField(max_length=60, blank=True, help_text="Retailer slug, e.g. retailer_alpha.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EVENTS)
    file_format = models.CharField(max_length=10, choices=Format.choices)
    path = models.CharField(max_length=500, help_text="Relative to the data root, under sources/.")
    description = models.TextField(blank=True)
    size_bytes = models.BigIntegerField(default=0)
    row_count = models.BigIntegerField(null=True, blank=True)
    columns = models.JSONField(
        default=list, blank=True, help_text="[[name, DuckDB type], …] as last described."
    )
    file_mtime = models.FloatField(null=True, blank=True)
    time_column = models.CharField(max_length=255, blank=True)
    time_format = models.CharField(max_length=10, choices=TimeFormat.choices, default=TimeFormat.ISO)
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="Zone of times written without an offset."
    )
    retailer_column = models.CharField(max_length=255, blank=True)
    type_column = models.CharField(max_length=255, blank=True)
    is_demo = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def abs_path(self) -> Path:
        return data_root() / self.path

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]


class SchemaMappingQuerySet(models.QuerySet):
    def for_key(self, retailer: str, source_id: int, target_schema: str, target_version: int):
        return self.filter(
            retailer=retailer, source_id=source_id, target_schema=target_schema, target_version=target_version
        )

    def active(self):
        return self.filter(status=SchemaMapping.Status.ACTIVE)


class ImmutableMapping(Exception):
    """An Active or Deprecated mapping version cannot change its rules."""


class SchemaMapping(models.Model):
    """One version of a retailer → RMIS mapping. Active versions are immutable; editing makes a new Draft."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        DEPRECATED = "deprecated", "Deprecated"

    name = models.CharField(max_length=120)
    retailer = models.SlugField(max_length=60)
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="mappings")
    target_schema = models.CharField(max_length=60, default="rmis.ad_event")
    target_version = models.PositiveIntegerField(default=1)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    rules = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    validation = models.JSONField(default=dict, blank=True)
    validation_status = models.CharField(
        max_length=8, blank=True, help_text="ok / warn / error after the last validation."
    )
    validated_at = models.DateTimeField(null=True, blank=True)
    coverage_pct = models.FloatField(default=0)
    required_coverage_pct = models.FloatField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = SchemaMappingQuerySet.as_manager()

    class Meta:
        ordering = ["retailer", "name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["retailer", "source", "target_schema", "target_version", "version"],
                name="mapping_version_unique",
            ),
            models.UniqueConstraint(
                fields=["retailer", "source", "target_schema", "target_version"],
                condition=Q(status="active"),
                name="one_active_mapping_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    def save(self, *args, **kwargs):
        # Belt and braces under the services: a non-draft row never changes its rules or target.
        if self.pk:
            before = (
                SchemaMapping.objects.filter(pk=self.pk)
                .values("status", "rules", "target_schema", "target_version")
                .first()
            )
            if (
                before
                and before["status"] != self.Status.DRAFT
                and (
                    before["rules"] != self.rules
                    or (before["target_schema"], before["target_version"])
                    != (self.target_schema, self.target_version)
                )
            ):
                raise ImmutableMapping(
                    f"{self.name} v{self.version} is {before['status']}: its rules cannot change"
                )
        super().save(*args, **kwargs)

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def target_key(self) -> str:
        return f"{self.target_schema}@{self.target_version}"

    def siblings(self):
        """Every version of this retailer + source + target, newest first."""
        return SchemaMapping.objects.for_key(
            self.retailer, self.source_id, self.target_schema, self.target_version
        ).order_by("-version")
