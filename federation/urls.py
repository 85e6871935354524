"""Federation section URLs (mounted at /federation/)."""

from django.urls import path

from federation import views
from federation.evaluation.urls import urlpatterns as evaluation_urls
from federation.pipelines.urls import urlpatterns as pipeline_urls

app_name = "federation"
urlpatterns = [
    path("", views.index, name="index"),
    path("import/", views.import_config, name="import"),
    path("cache/clear/", views.clear_cache, name="clear_cache"),
    path("<int:federation_id>/", views.detail, name="detail"),
    path("<int:federation_id>/infer/", views.infer, name="infer"),
    path("<int:federation_id>/gate/", views.gate_progress, name="gate_progress"),
    path("<int:federation_id>/metrics/", views.metrics_panel, name="metrics"),
    path("<int:federation_id>/gate/train/", views.retrain_gate, name="retrain_gate"),
    path("<int:federation_id>/gate/cancel/", views.cancel_gate, name="cancel_gate"),
    path("<int:federation_id>/delete/", views.delete, name="delete"),
    path("<int:federation_id>/export.json", views.export_json, name="export_json"),
    path("<int:federation_id>/export-adapter/", views.export_adapter, name="export_adapter"),
    path("runs/<int:run_id>/", views.run_result, name="run_result"),
    path("abtests/", views.abtest_list, name="abtests"),
    path("abtests/<int:abtest_id>/", views.abtest_detail, name="abtest"),
    *evaluation_urls,
    *pipeline_urls,
]
