"""Portable SQL expressions for time buckets (PostgreSQL in production, SQLite on a laptop)."""

from __future__ import annotations

from django.db.models import BigIntegerField, Func


class EpochBucket(Func):
    """Unix time of the start of the `seconds`-wide bucket containing a timestamp."""

    output_field = BigIntegerField()

    def __init__(self, expression, seconds: int) -> None:
        self.seconds = int(seconds)  # interpolated into SQL, so it must be a plain int
        if self.seconds < 1:
            raise ValueError("bucket must be at least one second")
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        n = self.seconds
        return f"((CAST(strftime('%%s', {sql}) AS INTEGER) / {n}) * {n})", params

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        n = self.seconds
        # date_part returns float8; EXTRACT returns numeric since PostgreSQL 14, several times slower to divide.
        return f"(FLOOR(date_part('epoch', {sql}) / {n}) * {n})::bigint", params
