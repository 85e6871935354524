"""The upload cap, enforced while the request body streams in: a larger file is refused without being written whole."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from rmnconsole.core.errors import ServiceError

# Multipart headers and small form fields around the file; the file itself is what the cap is about.
ENVELOPE_BYTES = 64 * 1024


class UploadTooLarge(ServiceError):
    status = 413


def max_upload_bytes() -> int:
    return int(settings.RMN_MAX_UPLOAD_MB) * 1024 * 1024


def too_large_message(limit: int | None = None) -> str:
    limit = limit or max_upload_bytes()
    return f"The file is larger than the {limit // (1024 * 1024)} MB upload limit (RMN_MAX_UPLOAD_MB); it was not stored."


class CappedUploadHandler(FileUploadHandler):
    """First in the handler chain: counts the bytes of each file and stops the upload once one passes the cap.

    StopUpload(connection_reset=False) makes Django discard the rest of the body unread into any file, so no more
    than the cap is ever handed to the handlers that write to disk. The view learns of it through `exceeded`.
    """

    def __init__(self, request: HttpRequest | None = None, limit: int | None = None):
        super().__init__(request)
        self.limit = limit or max_upload_bytes()
        self.exceeded = False
        self.declared_too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # A declared body far over the cap needs no reading at all to be refused (checked at the first file).
        self.declared_too_large = content_length > self.limit + ENVELOPE_BYTES
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.declared_too_large or (self.content_length or 0) > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def install_upload_cap(request: HttpRequest) -> CappedUploadHandler:
    """Put the cap in front of the request's upload handlers; must run before request.POST / FILES are read."""
    handler = CappedUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    request._dataset_upload_cap = handler
    return handler


def upload_was_too_large(request: HttpRequest) -> bool:
    handler = getattr(request, "_dataset_upload_cap", None)
    return bool(handler and handler.exceeded)


def capped_upload(view: Callable) -> Callable:
    """Decorator for a view (or a ninja operation's run) that installs the cap before anything parses the body."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any):
        install_upload_cap(request)
        return view(request, *args, **kwargs)

    return wrapper
