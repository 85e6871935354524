"""Mapping pages: list, detail with versions and validation, the HTMX editor with live preview, diff, RMIS schema."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from datasets_app.mappings import services as svc
from datasets_app.mappings import sources
from datasets_app.mappings.forms import (
    COMMON_ZONES,
    TRANSFORM_CHOICES,
    BuildDatasetForm,
    MappingCreateForm,
    rule_from_post,
)
from datasets_app.mappings.harmonize.browser import to_jsonable
from datasets_app.mappings.harmonize.diff import describe_transform
from datasets_app.mappings.harmonize.rules import TRANSFORM_TYPES
from datasets_app.mappings.rmis import DERIVED_METRICS, all_schemas, parse_schema_key
from datasets_app.models import SchemaMapping
from rmnconsole.core.errors import ServiceError
from rmnconsole.core.pages import not_found_as_404, show_refusal


def _mapping(mapping_id: int) -> SchemaMapping:
    with not_found_as_404():
        return svc.get_mapping(mapping_id)


def mapping_list(request):
    form = MappingCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name, version = parse_schema_key(form.cleaned_data["target"])
        try:
            mapping = svc.create_mapping(
                name=form.cleaned_data["name"], retailer=form.cleaned_data["retailer"], source=form.cleaned_data["source"],
                target_schema=name, target_version=version, user=request.user,
            )  # fmt: skip
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            messages.success(request, f"Draft {mapping.name} v{mapping.version} created: add its rules.")
            return redirect("datasets_app:mapping_edit", mapping_id=mapping.pk)
    mappings = SchemaMapping.objects.select_related("source").order_by("retailer", "name", "-version")
    return render(request, "datasets_app/mappings/list.html", {"mappings": mappings, "form": form})


def _rule_rows(mapping: SchemaMapping) -> list[dict]:
    schema = svc.mapping_schema(mapping)
    rows = []
    for i, rule in enumerate(svc.mapping_rules(mapping)):
        rows.append(
            {
                "index": i, "rule": rule, "label": rule.transform.label(), "detail": describe_transform(rule),
                "field": schema.field(rule.target), "form": rule.model_dump(mode="json"),
            }
        )  # fmt: skip
    return rows


def mapping_detail(request, mapping_id: int, build_form: BuildDatasetForm | None = None):
    mapping = _mapping(mapping_id)
    context = {
        "mapping": mapping,
        "rules": _rule_rows(mapping),
        "coverage": svc.coverage_of(mapping),
        "report": mapping.validation or None,
        "versions": svc.mapping_versions(mapping),
        "build_form": build_form or BuildDatasetForm(),
    }
    # A failed build shows the page again with the red banner and the messages on their fields (HTTP 400).
    status = 400 if build_form is not None and build_form.errors else 200
    return render(request, "datasets_app/mappings/detail.html", context, status=status)


@require_POST
def mapping_new_draft(request, mapping_id: int):
    draft = svc.edit_mapping(_mapping(mapping_id), user=request.user)
    return redirect("datasets_app:mapping_edit", mapping_id=draft.pk)


@require_POST
def mapping_activate(request, mapping_id: int):
    mapping = _mapping(mapping_id)
    try:
        svc.activate_mapping(mapping, user=request.user, force=request.POST.get("force") == "on")
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{mapping.name} v{mapping.version} is now Active.")
    return redirect("datasets_app:mapping_detail", mapping_id=mapping.pk)


@require_POST
def mapping_validate(request, mapping_id: int):
    mapping = _mapping(mapping_id)
    try:
        report = svc.validate_mapping(mapping)
    except ServiceError as exc:
        report = {"status": "error", "rows": 0, "checks": [], "failure": exc.message}
    if request.htmx:
        # oob_version: the version table's badge for this version changes with the report (it said "not validated").
        context = {"report": report, "mapping": mapping, "oob_version": True}
        return render(request, "datasets_app/mappings/validation.html", context)
    return redirect("datasets_app:mapping_detail", mapping_id=mapping.pk)


@require_GET
def mapping_validation_panel(request, mapping_id: int):
    """The last validation report (empty once the rules changed, with the button to run it again)."""
    mapping = _mapping(mapping_id)
    return render(
        request,
        "datasets_app/mappings/validation.html",
        {"report": mapping.validation or None, "mapping": mapping},
    )


@require_POST
def mapping_delete(request, mapping_id: int):
    mapping = _mapping(mapping_id)
    try:
        svc.delete_draft(mapping, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("datasets_app:mapping_detail", mapping_id=mapping.pk)
    messages.success(request, f"Draft {mapping.name} v{mapping.version} deleted.")
    return redirect("datasets_app:mapping_list")


@require_POST
def mapping_build(request, mapping_id: int):
    mapping = _mapping(mapping_id)
    form = BuildDatasetForm(request.POST)
    if form.is_valid():
        try:
            dataset, stats = svc.build_training_dataset(
                mapping, examples=form.cleaned_data["examples"], name=form.cleaned_data["name"], seed=form.cleaned_data["seed"],
                user=request.user, kind=form.cleaned_data["kind"] or "sft",
            )  # fmt: skip
        except ServiceError as exc:
            show_refusal(form, exc)
        else:
            messages.success(
                request,
                f"Dataset {dataset.name} written ({stats['written']} examples, {stats['skipped_incomplete']} incomplete rows "
                f"left out) and registered in the library.",
            )
            return redirect("datasets_app:mapping_detail", mapping_id=mapping.pk)
    return mapping_detail(request, mapping.pk, build_form=form)


def mapping_diff(request, mapping_id: int):
    mapping = _mapping(mapping_id)
    versions = list(svc.mapping_versions(mapping))
    by_id = {str(v.pk): v for v in versions}
    older = by_id.get(request.GET.get("a", "")) or (versions[1] if len(versions) > 1 else mapping)
    newer = by_id.get(request.GET.get("b", "")) or mapping
    context = {
        "mapping": mapping,
        "versions": versions,
        "a": older,
        "b": newer,
        "changes": svc.diff_mappings(older, newer),
    }
    return render(request, "datasets_app/mappings/diff.html", context)


# --- the editor -------------------------------------------------------------------------------------------------


def _editor_context(mapping: SchemaMapping, *, editing=None, values=None, errors=None) -> dict:
    schema = svc.mapping_schema(mapping)
    try:
        columns = sources.source_meta(mapping.source).columns
    except ServiceError:
        columns = {}
    rows = _rule_rows(mapping)
    if isinstance(editing, int) and values is not None and 0 <= editing < len(rows):
        rows[editing]["form"] = values
        rows[editing]["field"] = schema.field(values.get("target", ""))
    new_values = (
        values if editing == "new" and values else {"source": "", "target": "", "transform": {"type": "none"}}
    )
    return {
        "mapping": mapping,
        "schema": schema,
        "rules": rows,
        "columns": list(columns),
        "column_types": columns,
        "transforms": TRANSFORM_CHOICES,
        "zones": COMMON_ZONES,
        "editing": editing,
        "new_values": new_values,
        "new_field": schema.field(new_values.get("target", "")),
        "errors": errors or [],
        "mapped_targets": {r.get("target") for r in mapping.rules},
    }


def mapping_edit(request, mapping_id: int):
    mapping = _mapping(mapping_id)
    if not mapping.is_draft:
        return render(
            request,
            "datasets_app/mappings/immutable.html",
            {"mapping": mapping},
            status=409 if request.htmx else 200,
        )
    return render(request, "datasets_app/mappings/edit.html", _editor_context(mapping))


def _rules_section(request, mapping: SchemaMapping, *, changed: bool, **kwargs) -> HttpResponse:
    response = render(request, "datasets_app/mappings/rules.html", _editor_context(mapping, **kwargs))
    if changed:
        response["HX-Trigger"] = "mapping-changed"
    return response


def _draft_or_409(mapping_id: int) -> SchemaMapping | HttpResponse:
    mapping = _mapping(mapping_id)
    if not mapping.is_draft:
        return HttpResponse(
            f"{mapping.name} v{mapping.version} is {mapping.status}: it cannot change.", status=409
        )
    return mapping


@require_GET
def mapping_rule_edit(request, mapping_id: int, index: int):
    """The row of rule `index` in edit mode (index -1: cancel editing)."""
    mapping = _draft_or_409(mapping_id)
    if isinstance(mapping, HttpResponse):
        return mapping
    if index >= len(mapping.rules):
        raise Http404("no such rule")
    return _rules_section(request, mapping, changed=False, editing=index if index >= 0 else None)


@require_POST
def mapping_rule_save(request, mapping_id: int, index: int):
    """Save rule `index`, or add a rule when index is -1; errors come back inline in the edited row."""
    mapping = _draft_or_409(mapping_id)
    if isinstance(mapping, HttpResponse):
        return mapping
    rule = rule_from_post(request.POST, svc.mapping_schema(mapping))
    editing = "new" if index < 0 else index
    try:
        mapping = svc.set_rule(mapping, None if index < 0 else index, rule, user=request.user)
    except ServiceError as exc:
        errors = [e["msg"] for e in exc.details.get("rules", [])] or [exc.message]
        return _rules_section(request, mapping, changed=False, editing=editing, values=rule, errors=errors)
    return _rules_section(request, mapping, changed=True)


@require_POST
def mapping_rule_delete(request, mapping_id: int, index: int):
    mapping = _draft_or_409(mapping_id)
    if isinstance(mapping, HttpResponse):
        return mapping
    with not_found_as_404():
        mapping = svc.delete_rule(mapping, index, user=request.user)
    return _rules_section(request, mapping, changed=True)


@require_GET
def mapping_rule_params(request, mapping_id: int):
    """The parameter inputs of one transform type (swapped in when the transform or target select changes)."""
    mapping = _mapping(mapping_id)
    kind = request.GET.get("transform", "none")
    if kind not in TRANSFORM_TYPES:
        kind = "none"
    schema = svc.mapping_schema(mapping)
    values = rule_from_post(request.GET, schema)
    values["transform"]["type"] = kind
    field = schema.field(request.GET.get("target", ""))
    row = request.GET.get("row", "new")
    context = {
        "mapping": mapping,
        "values": values,
        "kind": kind,
        "field": field,
        "zones": COMMON_ZONES,
        "row": row,
    }
    return render(request, "datasets_app/mappings/rule_params.html", context)


@require_GET
def mapping_enum_values(request, mapping_id: int):
    """Pair rows for the most frequent values of a source column (to fill an enum_map from real data)."""
    mapping = _mapping(mapping_id)
    column = request.GET.get("source", "")
    schema = svc.mapping_schema(mapping)
    field = schema.field(request.GET.get("target", ""))
    known = set(request.GET.getlist("pair_source"))
    try:
        values = [v for v, _n in sources.source_distinct(mapping.source, column, 30) if v not in known]
    except ServiceError as exc:
        # The message quotes the column name the user sent: escaped like everything else on a page.
        return HttpResponse(format_html('<tr><td colspan="3" class="field-error">{}</td></tr>', exc.message))
    return render(request, "datasets_app/mappings/enum_rows.html", {"values": values, "field": field})


@require_GET
def mapping_preview(request, mapping_id: int):
    """20 harmonized rows, coverage and rule errors of the saved rules."""
    mapping = _mapping(mapping_id)
    try:
        result = svc.preview_mapping(mapping)
    except ServiceError as exc:
        result = {
            "columns": [],
            "rows": [],
            "coverage": svc.coverage_of(mapping),
            "errors": [{"msg": exc.message}],
        }
    result["rows"] = to_jsonable(result["rows"])
    return render(request, "datasets_app/mappings/preview.html", {"mapping": mapping, "result": result})


def rmis_schema(request):
    return render(
        request,
        "datasets_app/mappings/rmis_schema.html",
        {"schemas": all_schemas(), "derived": DERIVED_METRICS},
    )
