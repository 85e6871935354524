/* The sweep page's charts (Chart.js): optimization history, parameter importance, parallel coordinates and the
   Pareto front, drawn from the JSON the polled partial carries (#sweep-data) and redrawn after every poll. */
(function () {
  var charts = {};

  function data() {
    var node = document.getElementById("sweep-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    charts[id] = new Chart(canvas, config);
  }

  function history(summary) {
    var points = summary.history;
    draw("sweep-history", {
      type: "scatter",
      data: {
        datasets: [
          { label: summary.objective, data: points.map(function (p) { return { x: p.number, y: p.value }; }), backgroundColor: "#3b82f6" },
          { label: "best so far", type: "line", stepped: true, data: points.map(function (p) { return { x: p.number, y: p.best }; }), borderColor: "#10b981", pointRadius: 0 }
        ]
      },
      options: { scales: { x: { title: { display: true, text: "trial" }, ticks: { precision: 0 } }, y: { title: { display: true, text: summary.objective } } } }
    });
  }

  function importance(summary) {
    var names = Object.keys(summary.importance);
    var note = document.getElementById("sweep-importance-note");
    if (note) note.textContent = names.length ? "" : "Shown once two or more trials have completed with different values.";
    draw("sweep-importance", {
      type: "bar",
      data: { labels: names, datasets: [{ label: "importance", data: names.map(function (n) { return summary.importance[n]; }), backgroundColor: "#8b5cf6" }] },
      options: { indexAxis: "y", scales: { x: { min: 0, max: 1 } } }
    });
  }

  function scaled(rows, key) {
    var values = rows.map(function (r) { return key === "__value" ? r.value : r.params[key]; });
    var numeric = values.every(function (v) { return typeof v === "number"; });
    var domain = numeric ? values : Array.from(new Set(values.map(String))).sort();
    var lo = Math.min.apply(null, numeric ? domain : [0]), hi = Math.max.apply(null, numeric ? domain : [domain.length - 1]);
    return values.map(function (v) {
      var x = numeric ? v : domain.indexOf(String(v));
      return hi > lo ? (x - lo) / (hi - lo) : 0.5;
    });
  }

  function parallel(summary) {
    var rows = summary.parallel.rows, axes = summary.parallel.params.concat(["__value"]);
    var columns = axes.map(function (a) { return scaled(rows, a); });
    var values = rows.map(function (r) { return r.value; });
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    draw("sweep-parallel", {
      type: "line",
      data: {
        labels: summary.parallel.params.concat([summary.objective]),
        datasets: rows.map(function (r, i) {
          var t = hi > lo ? (r.value - lo) / (hi - lo) : 0;
          var colour = "rgba(" + Math.round(59 + 180 * t) + "," + Math.round(130 - 60 * t) + "," + Math.round(246 - 180 * t) + ",0.8)";
          return { label: "trial " + r.number, data: columns.map(function (c) { return c[i]; }), borderColor: colour, pointRadius: 2, fill: false };
        })
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { min: 0, max: 1, title: { display: true, text: "scaled 0–1" } } } }
    });
  }

  function pareto(summary) {
    var p = summary.pareto;
    if (!p || !p.points) return;
    var front = new Set(p.front);
    draw("sweep-pareto", {
      type: "scatter",
      data: {
        datasets: [
          { label: "trials", data: p.points.filter(function (q) { return !front.has(q.number); }), backgroundColor: "#94a3b8" },
          { label: "Pareto front", data: p.points.filter(function (q) { return front.has(q.number); }).sort(function (a, b) { return a.x - b.x; }), backgroundColor: "#ef4444", borderColor: "#ef4444", showLine: true }
        ]
      },
      options: { scales: { x: { title: { display: true, text: p.x_label } }, y: { title: { display: true, text: p.y_label } } } }
    });
  }

  function render() {
    var summary = data();
    if (!summary || !window.rmnCharts || !window.rmnCharts.ready()) return;
    history(summary);
    importance(summary);
    parallel(summary);
    pareto(summary);
  }

  document.addEventListener("DOMContentLoaded", render);
  document.body && document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "sweep-progress") render();
  });
  window.rmnSweepCharts = charts;
})();
