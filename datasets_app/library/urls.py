"""Dataset library URLs (mounted under /datasets/ by datasets_app/urls.py)."""

from django.urls import path

from datasets_app.library import views

urlpatterns = [
    path("", views.index, name="index"),
    path("library/upload/", views.upload, name="upload"),
    path("library/register/", views.register, name="register"),
    path("library/<int:dataset_id>/", views.detail, name="detail"),
    path("library/<int:dataset_id>/status/", views.status, name="status"),
    path("library/<int:dataset_id>/validate/", views.validate, name="validate"),
    path("library/<int:dataset_id>/export/", views.export, name="export"),
    path("library/<int:dataset_id>/download/", views.download, name="download"),
    path("library/<int:dataset_id>/delete/", views.delete, name="delete"),
]
