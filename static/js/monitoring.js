/* Monitoring dashboard charts: drawn from the JSON that the HTMX partial #chart-data swaps in, updated in place. */
(function () {
  "use strict";
  var charts = {};
  var palette = (window.rmnCharts && window.rmnCharts.palette) || ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];

  function payload() {
    var el = document.getElementById("monitor-chart-data");
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function timeLabel(iso, range) {
    var d = new Date(iso);
    var hh = String(d.getHours()).padStart(2, "0"), mm = String(d.getMinutes()).padStart(2, "0");
    if (range === "1h") return hh + ":" + mm + ":" + String(d.getSeconds()).padStart(2, "0");
    if (range === "24h") return hh + ":" + mm;
    return String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0") + " " + hh + ":" + mm;
  }

  function seriesName(s) {
    if (s.kind === "host") return s.host;
    return s.host + " · GPU " + s.gpu_index + (s.name ? " (" + s.name + ")" : "");
  }

  /* Align every series on the union of their bucket times so lines from several hosts share one x axis. */
  function timeAxis(series) {
    var seen = {}, times = [];
    series.forEach(function (s) { s.t.forEach(function (t) { if (!seen[t]) { seen[t] = true; times.push(t); } }); });
    times.sort();
    return times;
  }

  function aligned(times, s, valueAt) {
    var index = {};
    s.t.forEach(function (t, i) { index[t] = i; });
    return times.map(function (t) { return index[t] === undefined ? null : valueAt(index[t]); });
  }

  function pct(used, total) { return used == null || !total ? null : Math.round(1000 * used / total) / 10; }

  function line(label, data, i, extra) {
    var color = palette[i % palette.length];
    return Object.assign({ label: label, data: data, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, spanGaps: true, tension: 0.2 }, extra || {});
  }

  function baseOptions(yTitle, extra) {
    return Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "nearest", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle } }, x: { ticks: { maxTicksLimit: 8, autoSkip: true } } }
    }, extra || {});
  }

  function upsert(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var empty = config.data.datasets.every(function (d) { return !d.data.some(function (v) { return v !== null && v !== undefined; }); });
    var box = canvas.parentNode, note = box.querySelector(".chart-empty");
    if (empty && !note) { note = document.createElement("div"); note.className = "chart-empty"; note.textContent = "No data in this range yet"; box.appendChild(note); }
    if (!empty && note) note.remove();
    if (charts[id]) {
      charts[id].data = config.data;
      charts[id].update("none");
    } else {
      charts[id] = new Chart(canvas, config);
    }
  }

  function render() {
    var data = payload();
    if (!data) return;
    if (!window.rmnCharts.ready()) return;
    var gpus = data.series.filter(function (s) { return s.kind === "gpu"; });
    var hosts = data.series.filter(function (s) { return s.kind === "host"; });
    var gTimes = timeAxis(gpus), hTimes = timeAxis(hosts);
    var gLabels = gTimes.map(function (t) { return timeLabel(t, data.range); });
    var hLabels = hTimes.map(function (t) { return timeLabel(t, data.range); });

    upsert("chart-gpu-util", { type: "line", options: baseOptions("%", {}), data: { labels: gLabels, datasets: gpus.map(function (s, i) {
      return line(seriesName(s), aligned(gTimes, s, function (k) { return s.utilization[k]; }), i); }) } });
    upsert("chart-gpu-memory", { type: "line", options: baseOptions("% of VRAM"), data: { labels: gLabels, datasets: gpus.map(function (s, i) {
      return line(seriesName(s), aligned(gTimes, s, function (k) { return pct(s.memory_used_mb[k], s.memory_total_mb[k]); }), i); }) } });
    upsert("chart-gpu-temp", { type: "line", options: baseOptions("°C"), data: { labels: gLabels, datasets: gpus.map(function (s, i) {
      return line(seriesName(s), aligned(gTimes, s, function (k) { return s.temperature_c[k]; }), i); }) } });
    var hostSets = [];
    hosts.forEach(function (s, i) {
      hostSets.push(line(s.host + " CPU", aligned(hTimes, s, function (k) { return s.cpu_percent[k]; }), 2 * i));
      hostSets.push(line(s.host + " RAM", aligned(hTimes, s, function (k) { return pct(s.ram_used_mb[k], s.ram_total_mb[k]); }), 2 * i + 1, { borderDash: [6, 3] }));
    });
    upsert("chart-host", { type: "line", options: baseOptions("%"), data: { labels: hLabels, datasets: hostSets } });

    var lossSets = [];
    data.loss.forEach(function (job, i) {
      var pts = [], evalPts = [];
      job.step.forEach(function (step, k) {
        if (job.loss[k] !== null) pts.push({ x: step, y: job.loss[k] });
        if (job.eval_loss[k] !== null) evalPts.push({ x: step, y: job.eval_loss[k] });
      });
      lossSets.push(line(job.label + " (" + job.status + ")", pts, i, { pointRadius: pts.length < 40 ? 2 : 0 }));
      if (evalPts.length) lossSets.push(line(job.label + " eval", evalPts, i, { borderDash: [4, 4], pointRadius: 2 }));
    });
    upsert("chart-loss", { type: "line", data: { datasets: lossSets }, options: baseOptions("loss", {
      scales: { x: { type: "linear", title: { display: true, text: "step" } }, y: { title: { display: true, text: "loss" } } } }) });

    var labels = data.adapters.map(function (a) { return a.label; });
    upsert("chart-adapter-quality", { type: "bar", data: { labels: labels, datasets: [
      { label: "eval loss", data: data.adapters.map(function (a) { return a.eval_loss; }), backgroundColor: palette[0], yAxisID: "y" },
      { label: "token accuracy", data: data.adapters.map(function (a) { return a.token_accuracy; }), backgroundColor: palette[1], yAxisID: "y1" }
    ] }, options: baseOptions("eval loss", { scales: {
      y: { beginAtZero: true, title: { display: true, text: "eval loss" } },
      y1: { beginAtZero: true, suggestedMax: 1, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "accuracy" } } } }) });
    upsert("chart-adapter-latency", { type: "bar", data: { labels: labels, datasets: [
      { label: "p50 latency (ms)", data: data.adapters.map(function (a) { return a.latency_ms_p50; }), backgroundColor: palette[2] }
    ] }, options: baseOptions("ms") });

    var evals = data.evals || { by_adapter: [], versions: [] };
    upsert("chart-eval-adapters", { type: "bar", data: { labels: evals.by_adapter.map(function (a) { return a.label; }), datasets: [
      { label: "eval score", data: evals.by_adapter.map(function (a) { return a.score; }), backgroundColor: palette[1], yAxisID: "y" },
      { label: "p50 latency (ms)", data: evals.by_adapter.map(function (a) { return a.latency_ms_p50; }), backgroundColor: palette[2], yAxisID: "y1" }
    ] }, options: baseOptions("score", { scales: {
      y: { beginAtZero: true, suggestedMax: 1, title: { display: true, text: "score" } },
      y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "ms" } } } }) });
    upsert("chart-eval-versions", { type: "line", data: { datasets: evals.versions.map(function (a, i) {
      return line(a.name, a.points, i, { pointRadius: 3 });
    }) }, options: baseOptions("score", { scales: {
      x: { type: "linear", ticks: { stepSize: 1 }, title: { display: true, text: "version" } },
      y: { beginAtZero: true, suggestedMax: 1, title: { display: true, text: "score" } } } }) });
  }

  function init() {
    render();
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "chart-data") render();
    });
    var controls = document.getElementById("monitor-controls");
    if (controls) controls.addEventListener("change", function () {
      controls.querySelectorAll(".mon-range-option").forEach(function (l) { l.classList.toggle("active", l.querySelector("input").checked); });
      var params = new URLSearchParams(new FormData(controls));
      history.replaceState(null, "", "?" + params.toString());
    });
  }

  window.rmnMonitoring = { charts: charts, render: render };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
