"""Errors the services raise; the API turns them into 4xx JSON, the views into messages or form errors."""

from __future__ import annotations


class ServiceError(Exception):
    """An expected failure with a message the user can act on."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409
