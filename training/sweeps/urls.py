from django.urls import path

from training.sweeps import views

urlpatterns = [
    path("sweeps/", views.index, name="sweeps"),
    path("sweeps/<int:sweep_id>/", views.detail, name="sweep_detail"),
    path("sweeps/<int:sweep_id>/progress/", views.progress, name="sweep_progress"),
    path("sweeps/<int:sweep_id>/cancel/", views.cancel, name="sweep_cancel"),
]
