"""Evaluation pages, mounted inside the federation section (/federation/evals/...)."""

from django.urls import path

from federation.evaluation import views

urlpatterns = [
    path("evals/", views.suite_list, name="evals"),
    path("evals/suites/<int:suite_id>/", views.suite_detail, name="eval_suite"),
    path("evals/runs/<int:run_id>/", views.run_detail, name="eval_run"),
    path("evals/runs/<int:run_id>/cancel/", views.run_cancel, name="eval_run_cancel"),
    path("evals/runs/<int:run_id>/diff/<int:other_id>/", views.run_diff, name="eval_diff"),
    path("<int:federation_id>/evaluate/", views.evaluate_federation, name="evaluate"),
]
