"""Datasets & Mappings section: the dataset library and the schema-mapping / data-browser pages."""

from django.urls import include, path

app_name = "datasets_app"
urlpatterns = [
    path("", include("datasets_app.library.urls")),
    path("", include("datasets_app.mappings.urls")),
]
