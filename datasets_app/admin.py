"""Django admin of the datasets & mappings app."""

import datasets_app.library.admin
import datasets_app.mappings.admin  # noqa: F401
