/* Federated job page: per-silo training loss by round (Chart.js), polled from /api/federated/jobs/{id}/rounds. */
(function () {
  "use strict";
  var palette = (window.rmnCharts && window.rmnCharts.palette) || ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6"];
  var POLL_MS = 2000;

  function start(canvas) {
    var status = document.getElementById("silo-loss-status");
    var chart = new Chart(canvas, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        scales: { x: { type: "linear", title: { display: true, text: "round" }, ticks: { precision: 0 } },
                  y: { title: { display: true, text: "loss" } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
    canvas.rmnChart = chart;
    var finished = canvas.dataset.finished === "true";

    function draw(rows) {
      var series = {};
      rows.forEach(function (r) {
        if (!r.ok || r.loss === null) { return; }
        var key = r.silo + (r.phase === "evaluate" ? " · aggregate eval" : " · train");
        (series[key] = series[key] || []).push({ x: r.round, y: r.loss });
      });
      chart.data.datasets = Object.keys(series).sort().map(function (key, i) {
        var color = palette[i % palette.length];
        return { label: key, data: series[key], borderColor: color, backgroundColor: color, pointRadius: 3,
                 borderDash: key.indexOf("eval") >= 0 ? [6, 4] : [] };
      });
      chart.update("none");
      canvas.dataset.series = String(chart.data.datasets.length);
      if (status) { status.textContent = rows.length + " silo-round results" + (finished ? "" : " · live"); }
    }

    function tick() {
      fetch(canvas.dataset.roundsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (rows) {
          draw(rows);
          var progress = document.querySelector("#federated-progress .badge");
          finished = finished || (progress && /completed|failed|cancelled/.test(progress.textContent));
          if (!finished) { setTimeout(tick, POLL_MS); }
        })
        .catch(function (err) { if (status) { status.textContent = "rounds unavailable: " + err.message; } });
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var canvas = document.getElementById("silo-loss-chart");
    if (canvas && window.Chart) { start(canvas); }
  });
})();
