"""The Python facade: the user guide's functions under its names, over the same services as the UI and API.

    from rmnconsole.console import submit_training_job, get_job_status, compose_federation, validate_dataset
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")

import django  # noqa: E402

django.setup()

# --- datasets ---
# --- mappings ---
# --- training ---
# --- federation ---
# --- monitoring ---

__all__: list[str] = []
