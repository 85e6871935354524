// Dataset upload: show the upload's progress (htmx's xhr progress events) and refuse oversize files before sending.
(function () {
  "use strict";

  function setup() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var box = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-progress-bar");
    var label = document.getElementById("upload-progress-label");
    var submit = document.getElementById("upload-submit");
    var result = document.getElementById("upload-result");
    var maxBytes = parseInt(form.dataset.maxBytes || "0", 10);

    form.addEventListener("htmx:confirm", function (event) {
      var input = form.querySelector("input[type=file]");
      var file = input && input.files && input.files[0];
      if (file && maxBytes && file.size > maxBytes) {
        event.preventDefault();  // the server refuses it too; this saves sending it
        result.innerHTML = '<div class="banner banner-error" role="alert"><span class="banner-icon">✕</span>' +
          '<span class="banner-text">The file is larger than the ' + Math.round(maxBytes / 1048576) +
          ' MB upload limit; it was not sent.</span></div>';
      }
    });
    form.addEventListener("htmx:beforeRequest", function () {
      box.hidden = false;
      bar.value = 0;
      label.textContent = "0%";
      submit.disabled = true;
      result.innerHTML = "";
    });
    form.addEventListener("htmx:xhr:progress", function (event) {
      if (!event.detail.lengthComputable) return;
      var pct = Math.round((100 * event.detail.loaded) / event.detail.total);
      bar.value = pct;
      label.textContent = pct < 100 ? pct + "% uploaded" : "Uploaded — validating…";
    });
    form.addEventListener("htmx:afterRequest", function () {
      submit.disabled = false;
      box.hidden = true;
    });
    // Errors (4xx) carry a message partial: swap it in instead of dropping it.
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var target = event.detail.target;
      if (target && (target.id === "upload-result" || target.id === "register-result") && event.detail.xhr.status >= 400) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
