"""/metrics at the site root (Prometheus' default path), included from rmnconsole/urls.py."""

from django.urls import path

from monitoring import views

urlpatterns = [path("", views.metrics, name="metrics")]
