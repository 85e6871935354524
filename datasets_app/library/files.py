"""A dataset's bytes, opened safely: the one way the library's services, exports and downloads read a dataset file."""

from __future__ import annotations

from typing import BinaryIO

from datasets_app.library.models import Dataset
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.paths import UnsafeFile, open_inside


def open_dataset_file(dataset: Dataset) -> BinaryIO:
    """The dataset's file opened for reading, confirmed at open time to be a regular file inside the data root."""
    try:
        return open_inside(dataset.path)
    except FileNotFoundError:
        raise ServiceError(f"The file {dataset.path} is gone from the data root.", field="path") from None
    except UnsafeFile as exc:
        raise ServiceError(f"The file of {dataset.label} is refused: {exc}", field="path") from None
