"""/deployments/: the Deployments page and its one-click actions."""

from django.urls import path

from federation.serving import pages

app_name = "deployments"
urlpatterns = [
    path("", pages.index, name="index"),
    path("set/", pages.set_stage, name="set_stage"),
    path("<str:name>/promote/", pages.promote, name="promote"),
    path("<str:name>/rollback/", pages.rollback, name="rollback"),
    path("<str:name>/canary/", pages.canary, name="canary"),
    path("<str:name>/export/", pages.export, name="export"),
    path("<str:name>/delete/", pages.delete, name="delete"),
]
