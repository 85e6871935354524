from django.urls import path

from training.model_import import views

# Included by training/urls.py, so the names live in the "training" namespace.
urlpatterns = [
    path("base-models/", views.base_models, name="base_models"),
    path("base-models/imports/<int:job_id>/progress/", views.import_progress, name="import_progress"),
]
