from django.urls import include, path

from training import scaleout_views, views

app_name = "training"
urlpatterns = [
    path("", views.index, name="index"),
    path("", include("training.model_import.urls")),
    path("", include("training.sweeps.urls")),
    path("", include("training.federated.urls")),
    path("jobs/table/", views.jobs_table, name="jobs_table"),
    path("new/", views.new_job, name="new"),
    path("new/estimate/", scaleout_views.estimate_partial, name="estimate"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/resume/", views.job_resume, name="job_resume"),
    path("history/", views.history, name="history"),
    path("adapters/", views.adapters, name="adapters"),
    path("adapters/<int:adapter_id>/", views.adapter_detail, name="adapter_detail"),
    path("adapters/<int:adapter_id>/download/", views.adapter_download, name="adapter_download"),
    path("adapters/<int:adapter_id>/delete/", views.adapter_delete, name="adapter_delete"),
]
