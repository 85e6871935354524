"""Real Chromium: open the guide's Alpha mapping, edit it in a new draft, and watch the live preview change;
then browse the Alpha source with filters."""

from __future__ import annotations

import pytest

from datasets_app.mappings import demo as sample_data
from datasets_app.models import SchemaMapping

pytestmark = pytest.mark.django_db(transaction=True)


def _first_cost(page) -> float:
    return float(
        page.locator("#preview-table tbody tr").first.locator("td").nth(_column(page, "cost")).inner_text()
    )


def _column(page, name: str) -> int:
    headers = page.locator("#preview-table thead th").evaluate_all("els => els.map(e => e.dataset.column)")
    return headers.index(name)


def test_edit_mapping_and_see_the_preview_change(logged_in_page, live_server, screenshot):
    sample_data.seed_demo(rows=300)
    alpha = SchemaMapping.objects.get(name="alpha_events_to_rmis")
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/mappings/")
    page.click(f'tr[data-mapping="{alpha.pk}"] a')
    assert "✅ Active" in page.locator("main h1").inner_text()
    assert page.locator('.validation-report[data-status="ok"]').is_visible()
    screenshot(page, "mapping-detail")
    page.click('button[data-action="edit"]')  # Active is immutable: this makes a Draft
    page.wait_for_selector("#preview-table")
    assert "Draft" in page.locator("main h1").inner_text()
    before = _first_cost(page)
    assert page.locator("#preview-table tbody tr").count() == 20

    cost_row = page.locator('tr.rule-row[data-target="cost"]')
    cost_row.locator('button[data-action="edit-rule"]').click()
    form_row = page.locator("tr.rule-form-row").first
    form_row.locator('input[name="factor"]').fill("1000")
    form_row.locator('button[data-action="save-rule"]').click()
    page.wait_for_function(
        """(before) => {
            const table = document.querySelector('#preview-table');
            if (!table) return false;
            const idx = [...table.querySelectorAll('thead th')].findIndex(th => th.dataset.column === 'cost');
            const cell = table.querySelector('tbody tr td:nth-child(' + (idx + 1) + ')');
            return cell && Math.abs(parseFloat(cell.textContent) - before * 1000) < 1e-6 * Math.max(1, before * 1000);
        }""",
        arg=before,
    )
    assert _first_cost(page) == pytest.approx(before * 1000)
    assert "─ /1000 ─>" in page.locator('tr.rule-row[data-target="cost"] .transform-label').inner_text()

    # An invalid change is shown inline and saves nothing.
    page.locator('tr.rule-row[data-target="cost"] button[data-action="edit-rule"]').click()
    page.locator('tr.rule-form-row input[name="factor"]').first.fill("-5")
    page.locator('tr.rule-form-row button[data-action="save-rule"]').first.click()
    page.wait_for_selector("tr.rule-errors .errorlist li")
    assert "greater than 0" in page.locator("tr.rule-errors").inner_text()
    draft = SchemaMapping.objects.get(parent=alpha)
    assert next(r for r in draft.rules if r["target"] == "cost")["transform"]["factor"] == 1000.0

    # Delete the conversions rule: the preview loses the column.
    page.locator("text=Cancel").first.click()
    page.wait_for_selector("tr.rule-errors", state="detached")  # the cancel swap is done
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.locator('tr.rule-row[data-target="conversions"] button[data-action="delete-rule"]').click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll('#preview-table thead th')].some(th => th.dataset.column === 'conversions')"
    )
    assert screenshot(page, "mapping-editor").stat().st_size > 10_000


def test_browse_filter_and_sort(logged_in_page, live_server, screenshot):
    sample_data.seed_demo(rows=300)
    page = logged_in_page
    page.goto(f"{live_server.url}/datasets/sources/")
    page.click("text=Retailer Alpha Events")
    page.wait_for_selector("#browser-table")
    total = int(page.locator("[data-total]").get_attribute("data-total"))
    assert total == 300
    page.select_option('select[name="type"]', "sd")
    page.select_option('select[name="retailer"]', "alpha_us")
    page.click('button[data-action="apply-filters"]')
    page.wait_for_function(f"() => parseInt(document.querySelector('[data-total]').dataset.total) < {total}")
    types = page.locator("#browser-table tbody tr td:nth-child(6)").all_inner_texts()
    assert types and set(types) == {"sd"}
    page.click('#browser-table th[data-column="impressions"] a')
    page.wait_for_selector('#browser-table th[data-column="impressions"]:has-text("▲")')
    values = [int(v) for v in page.locator("#browser-table tbody tr td:nth-child(8)").all_inner_texts()]
    assert values == sorted(values)
    page.click('button[data-action="stats"]')
    page.wait_for_selector("#stats-table")
    page.click('button[data-action="harmonize"]')
    page.wait_for_selector("#harmonized-table")
    assert "sponsored_display" in page.locator("#harmonized-table").inner_text()
    assert screenshot(page, "data-browser").stat().st_size > 10_000
