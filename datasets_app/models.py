"""Models of the datasets & mappings app: the dataset library (dataset.py) and schema mappings (mapping.py)."""

from datasets_app.library.models import Dataset, DatasetValidation  # noqa: F401
from datasets_app.mappings.models import DataSource, ImmutableMapping, SchemaMapping  # noqa: F401
