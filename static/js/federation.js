/* Create Federation form: show the chosen method's options and only adapters of the chosen base model. */
(function () {
  function sync(form) {
    var method = form.querySelector("input[name=method]:checked");
    form.querySelectorAll(".fed-options").forEach(function (box) {
      box.hidden = !method || box.dataset.method !== method.value;
    });
    var base = form.querySelector("select[name=base_model]");
    if (!base) return;
    form.querySelectorAll("option[data-base]").forEach(function (option) {
      var other = option.dataset.base !== base.value;
      option.hidden = other;
      option.disabled = other;
      if (other && option.selected) option.selected = false;
    });
    // An empty list says why instead of looking broken.
    form.querySelectorAll("[data-empty-note]").forEach(function (note) {
      var select = form.querySelector("select[name=" + note.dataset.emptyNote + "]");
      note.hidden = !select || select.querySelectorAll("option[data-base]:not([disabled])").length > 0;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("federation-form");
    if (!form) return;
    form.addEventListener("change", function () { sync(form); });
    sync(form);
  });
})();
