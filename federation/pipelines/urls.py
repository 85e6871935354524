"""Pipeline pages, mounted inside the federation section (/federation/pipelines/...)."""

from django.urls import path

from federation.pipelines import views

urlpatterns = [
    path("pipelines/", views.pipeline_list, name="pipelines"),
    path("pipelines/runs/<int:run_id>/", views.run_detail, name="pipeline_run"),
    path("pipelines/runs/<int:run_id>/cancel/", views.run_cancel, name="pipeline_run_cancel"),
    path("pipelines/runs/<int:run_id>/retry/", views.run_retry, name="pipeline_run_retry"),
    path("pipelines/runs/<int:run_id>/approval/", views.run_approval, name="pipeline_approval"),
    path("pipelines/runs/<int:run_id>/approve/", views.run_approve, name="pipeline_approve"),
    path("pipelines/runs/<int:run_id>/reject/", views.run_reject, name="pipeline_reject"),
    path("pipelines/datasets/<int:dataset_id>/", views.dataset_lineage, name="pipeline_dataset"),
    path("pipelines/<str:name>/", views.pipeline_detail, name="pipeline"),
    path("pipelines/<str:name>/run/", views.pipeline_trigger, name="pipeline_trigger"),
]
