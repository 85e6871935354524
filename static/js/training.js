/* Training pages: a live loss curve (train + eval) that appends new points, and the history overlay. */
(function () {
  "use strict";
  var palette = (window.rmnCharts && window.rmnCharts.palette) || ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6"];
  var POLL_MS = 2000;

  function lineChart(canvas, datasets) {
    return new Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "linear", title: { display: true, text: "step" }, ticks: { precision: 0 } },
          y: { title: { display: true, text: "loss" } }
        },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function dataset(label, color, dashed) {
    return { label: label, data: [], borderColor: color, backgroundColor: color, pointRadius: 2, borderWidth: 2,
             borderDash: dashed ? [6, 4] : [], spanGaps: true };
  }

  function fetchPoints(url, after) {
    var query = after === null ? "" : "?after=" + encodeURIComponent(after);
    return fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("metrics request failed: HTTP " + r.status); }
      return r.json();
    });
  }

  /* One job's curve: polls metrics?after=LAST_STEP and appends; stops when the job has finished. */
  function liveLossChart(canvas) {
    var url = canvas.dataset.metricsUrl;
    var status = document.getElementById("loss-chart-status");
    var train = dataset("train loss", palette[0], false);
    var evals = dataset("eval loss", palette[3], true);
    var chart = lineChart(canvas, [train, evals]);
    var last = null;
    canvas.rmnChart = chart;

    function tick() {
      fetchPoints(url, last).then(function (body) {
        body.points.forEach(function (p) {
          if (p.loss !== null) { train.data.push({ x: p.step, y: p.loss }); }
          if (p.eval_loss !== null) { evals.data.push({ x: p.step, y: p.eval_loss }); }
          last = last === null ? p.step : Math.max(last, p.step);
        });
        if (body.points.length) { chart.update("none"); }
        canvas.dataset.points = String(train.data.length);
        if (status) {
          status.textContent = train.data.length + " points · step " + body.current_step + " / " + body.total_steps +
            (body.finished ? " · " + body.status : " · live");
        }
        if (!body.finished) { setTimeout(tick, POLL_MS); } else { canvas.dataset.done = "true"; }
      }).catch(function (err) {
        if (status) { status.textContent = String(err.message || err); }
        setTimeout(tick, POLL_MS * 3);
      });
    }
    tick();
  }

  /* History page: draw the loss curves of the ticked jobs on one chart. */
  function overlay() {
    var table = document.getElementById("history-table");
    var button = document.getElementById("overlay-button");
    if (!table || !button) { return; }
    var template = table.dataset.metricsUrlTemplate;
    var chart = null;
    button.addEventListener("click", function () {
      var picks = Array.prototype.slice.call(table.querySelectorAll(".overlay-pick:checked"));
      var card = document.getElementById("overlay-card");
      var canvas = document.getElementById("overlay-chart");
      if (!picks.length) { card.hidden = true; return; }
      card.hidden = false;
      Promise.all(picks.map(function (box) { return fetchPoints(template.replace("{id}", box.value), null); })).then(function (bodies) {
        var sets = [];
        bodies.forEach(function (body, i) {
          var color = palette[i % palette.length];
          var train = dataset(picks[i].dataset.label + " train", color, false);
          var evals = dataset(picks[i].dataset.label + " eval", color, true);
          body.points.forEach(function (p) {
            if (p.loss !== null) { train.data.push({ x: p.step, y: p.loss }); }
            if (p.eval_loss !== null) { evals.data.push({ x: p.step, y: p.eval_loss }); }
          });
          sets.push(train);
          if (evals.data.length) { sets.push(evals); }
        });
        if (chart) { chart.destroy(); }
        chart = lineChart(canvas, sets);
        canvas.rmnChart = chart;
      });
    });
  }

  function start() {
    if (!window.rmnCharts.ready()) { return; }
    document.querySelectorAll("canvas[data-loss-chart]").forEach(liveLossChart);
    overlay();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
