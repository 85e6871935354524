"""/v1/…: the OpenAI-compatible endpoint (included at the site root from rmnconsole/urls.py)."""

from django.urls import path

from federation.serving import views

urlpatterns = [
    path("models", views.models, name="v1-models"),
    path("models/<path:model>", views.model_detail, name="v1-model"),
    path("chat/completions", views.chat_completions, name="v1-chat-completions"),
    path("completions", views.completions, name="v1-completions"),
]
