from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("", views.index, name="index"),
    path("cards/", views.cards, name="cards"),
    path("charts/", views.chart_data, name="chart_data"),
    path("alerts/<int:alert_id>/ack/", views.acknowledge, name="ack"),
]
