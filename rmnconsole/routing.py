"""WebSocket routes (the ASGI app's second door; HTTP routes are rmnconsole.urls)."""

from django.urls import path

from rmnconsole.live_consumer import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/<str:topic>/<int:pk>/", LiveConsumer.as_asgi()),
]
