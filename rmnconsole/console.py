"""The Python facade: the user guide's functions under its names, over the same services as the UI and API.

from rmnconsole.console import submit_training_job, get_job_status, compose_federation, validate_dataset
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")

import django

django.setup()

# --- datasets ---
from datasets_app.library.facade import export_dataset, list_datasets, register_dataset, validate_dataset  # noqa: E402

# --- mappings ---
from datasets_app.mappings.facade import (  # noqa: E402
    activate_mapping,
    browse_source,
    build_training_dataset,
    create_mapping,
    delete_mapping_draft,
    export_source,
    list_mappings,
    preview_mapping,
    seed_demo,
    update_mapping,
    validate_mapping,
)

# --- federation ---
from federation.evaluation.facade import evaluate  # noqa: E402
from federation.facade import compose_federation, import_federation, test_federation  # noqa: E402
from federation.pipelines.facade import (  # noqa: E402
    approve_pipeline_run,
    create_pipeline,
    get_pipeline_run,
    reject_pipeline_run,
    run_pipeline,
)
from federation.serving.facade import (  # noqa: E402
    deploy,
    export_deployment,
    list_deployments,
    promote_deployment,
    rollback_deployment,
)

# --- monitoring ---
from monitoring.facade import acknowledge_alert, get_system_samples, get_system_summary, list_alerts  # noqa: E402

# --- training ---
from training.facade import (  # noqa: E402
    cancel_federated_job,
    cancel_sweep,
    cancel_training_job,
    get_federated_job,
    get_job_status,
    get_sweep,
    list_silos,
    register_silo,
    resume_training_job,
    start_sweep,
    submit_federated_job,
    submit_training_batch,
    submit_training_job,
)

__all__ = [
    "acknowledge_alert",
    "activate_mapping",
    "approve_pipeline_run",
    "browse_source",
    "build_training_dataset",
    "cancel_federated_job",
    "cancel_sweep",
    "cancel_training_job",
    "compose_federation",
    "create_mapping",
    "create_pipeline",
    "delete_mapping_draft",
    "deploy",
    "evaluate",
    "export_dataset",
    "export_deployment",
    "export_source",
    "get_federated_job",
    "get_job_status",
    "get_pipeline_run",
    "get_sweep",
    "get_system_samples",
    "get_system_summary",
    "import_federation",
    "list_alerts",
    "list_datasets",
    "list_deployments",
    "list_mappings",
    "list_silos",
    "preview_mapping",
    "promote_deployment",
    "register_dataset",
    "register_silo",
    "reject_pipeline_run",
    "resume_training_job",
    "rollback_deployment",
    "run_pipeline",
    "seed_demo",
    "start_sweep",
    "submit_federated_job",
    "submit_training_batch",
    "submit_training_job",
    "test_federation",
    "update_mapping",
    "validate_dataset",
    "validate_mapping",
]
