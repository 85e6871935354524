// Small helpers for the mapping editor (enum pair rows) and the data browser (column filter rows).
// Event delegation on document, so rows swapped in by HTMX work without re-binding.
(function () {
  "use strict";

  function cloneTemplate(id) {
    var tpl = document.getElementById(id);
    return tpl ? tpl.content.firstElementChild.cloneNode(true) : null;
  }

  document.addEventListener("click", function (event) {
    var addPair = event.target.closest("[data-add-pair]");
    if (addPair) {
      var row = addPair.getAttribute("data-add-pair");
      var body = document.querySelector("#pairs-" + CSS.escape(row) + " tbody");
      var pair = cloneTemplate("pair-template-" + row);
      if (body && pair) {
        body.appendChild(pair);
        var input = pair.querySelector("input");
        if (input) input.focus();
      }
      return;
    }
    var removePair = event.target.closest("[data-remove-pair]");
    if (removePair) {
      removePair.closest("tr").remove();
      return;
    }
    // An export is a file download, not an HTMX swap: the filter form's hx-get would paste the file into the page.
    var exportButton = event.target.closest("[data-export-format]");
    if (exportButton) {
      var form = exportButton.closest("form");
      var params = new URLSearchParams(new FormData(form));
      params.delete("partial");
      params.set("format", exportButton.getAttribute("data-export-format"));
      window.location.assign(exportButton.getAttribute("data-export-url") + "?" + params.toString());
      return;
    }
    var addFilter = event.target.closest("[data-add-filter]");
    if (addFilter) {
      var list = document.getElementById("column-filters");
      var filter = cloneTemplate("filter-template");
      if (list && filter) list.appendChild(filter);
      return;
    }
    var removeFilter = event.target.closest("[data-remove-filter]");
    if (removeFilter) {
      var rowEl = removeFilter.closest(".filter-row");
      var all = document.querySelectorAll("#column-filters .filter-row");
      if (all.length > 1) {
        rowEl.remove();
      } else {
        rowEl.querySelectorAll("input, select").forEach(function (el) { el.value = ""; });
      }
    }
  });

  // Enter in a rule row saves that rule instead of submitting nothing.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
    var ruleRow = event.target.closest(".rule-form-row");
    if (!ruleRow) return;
    event.preventDefault();
    var save = ruleRow.querySelector("[data-action='save-rule'], [data-action='add-rule']");
    if (save) save.click();
  });
})();
