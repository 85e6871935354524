"""Root URLconf: the console sections, the admin, the RQ dashboard and the API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from monitoring.views import home
from rmnconsole.api import api

urlpatterns = [
    path("", home, name="home"),  # the overview reads every app, so monitoring owns it
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("api/", api.urls),
    path("training/", include("training.urls")),
    path("federation/", include("federation.urls")),
    path("datasets/", include("datasets_app.urls")),
    path("monitoring/", include("monitoring.urls")),
    # --- root-level app routes ---
    path("metrics", include("monitoring.metrics_urls")),
    path("v1/", include("federation.serving.urls")),
    path(
        "deployments/", include("federation.serving.page_urls")
    ),  # the OpenAI-compatible endpoint (Bearer tokens)
]
