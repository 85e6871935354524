"""Django admin of the datasets & mappings app."""

import datasets_app.dataset_admin
import datasets_app.mapping_admin  # noqa: F401
