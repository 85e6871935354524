from django.urls import path

from training.federated import views

# Included by training/urls.py, so the names live in the "training" namespace.
urlpatterns = [
    path("federated/", views.federated_index, name="federated"),
    path("federated/silos/", views.silos, name="federated_silos"),
    path("federated/new/", views.new_job, name="federated_new"),
    path("federated/jobs/<int:job_id>/", views.job_detail, name="federated_job"),
    path("federated/jobs/<int:job_id>/progress/", views.job_progress, name="federated_job_progress"),
    path("federated/jobs/<int:job_id>/cancel/", views.job_cancel, name="federated_job_cancel"),
]
