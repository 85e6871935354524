"""Schema mappings, data sources / data browser and the RMIS schema page (mounted under /datasets/)."""

from django.urls import path

from datasets_app.mappings import source_views as sv
from datasets_app.mappings import views as mv

urlpatterns = [
    path("mappings/", mv.mapping_list, name="mapping_list"),
    path("mappings/<int:mapping_id>/", mv.mapping_detail, name="mapping_detail"),
    path("mappings/<int:mapping_id>/edit/", mv.mapping_edit, name="mapping_edit"),
    path("mappings/<int:mapping_id>/draft/", mv.mapping_new_draft, name="mapping_new_draft"),
    path("mappings/<int:mapping_id>/activate/", mv.mapping_activate, name="mapping_activate"),
    path("mappings/<int:mapping_id>/validate/", mv.mapping_validate, name="mapping_validate"),
    path(
        "mappings/<int:mapping_id>/validation/", mv.mapping_validation_panel, name="mapping_validation_panel"
    ),
    path("mappings/<int:mapping_id>/delete/", mv.mapping_delete, name="mapping_delete"),
    path("mappings/<int:mapping_id>/build-dataset/", mv.mapping_build, name="mapping_build"),
    path("mappings/<int:mapping_id>/diff/", mv.mapping_diff, name="mapping_diff"),
    path("mappings/<int:mapping_id>/preview/", mv.mapping_preview, name="mapping_preview"),
    path("mappings/<int:mapping_id>/rules/params/", mv.mapping_rule_params, name="mapping_rule_params"),
    path("mappings/<int:mapping_id>/rules/enum-values/", mv.mapping_enum_values, name="mapping_enum_values"),
    path(
        "mappings/<int:mapping_id>/rules/cancel/",
        mv.mapping_rule_edit,
        {"index": -1},
        name="mapping_rule_cancel",
    ),
    path("mappings/<int:mapping_id>/rules/<int:index>/edit/", mv.mapping_rule_edit, name="mapping_rule_edit"),
    path("mappings/<int:mapping_id>/rules/<int:index>/save/", mv.mapping_rule_save, name="mapping_rule_save"),
    path(
        "mappings/<int:mapping_id>/rules/<int:index>/delete/",
        mv.mapping_rule_delete,
        name="mapping_rule_delete",
    ),
    path(
        "mappings/<int:mapping_id>/rules/new/save/",
        mv.mapping_rule_save,
        {"index": -1},
        name="mapping_rule_add",
    ),
    path("sources/", sv.source_list, name="source_list"),
    path("sources/<int:source_id>/", sv.source_browse, name="source_browse"),
    path("sources/<int:source_id>/stats/", sv.source_stats, name="source_stats"),
    path("sources/<int:source_id>/harmonized/", sv.source_harmonized, name="source_harmonized"),
    path("sources/<int:source_id>/export/", sv.source_export, name="source_export"),
    path("rmis/", mv.rmis_schema, name="rmis_schema"),
]
