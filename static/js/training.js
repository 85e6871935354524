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

  /* One job's curve. Live (data-live-topic): events over a WebSocket append points, cards and log lines; while the
     socket is down it polls. Otherwise it polls metrics?after=LAST_STEP. Both stop when the job has finished.
     Points are kept per series by step, so a catch-up read that overlaps events never draws a point twice. */
  function liveLossChart(canvas) {
    var url = canvas.dataset.metricsUrl;
    var status = document.getElementById("loss-chart-status");
    var train = dataset("train loss", palette[0], false);
    var evals = dataset("eval loss", palette[3], true);
    var chart = lineChart(canvas, [train, evals]);
    var lastTrain = null, lastEval = null, watcher = null;
    canvas.rmnChart = chart;

    function after() { /* the page asks for points after the last step it has (of either curve) */
      if (lastTrain === null) { return lastEval; }
      return lastEval === null ? lastTrain : Math.max(lastTrain, lastEval);
    }

    function addPoints(points) {
      var added = 0;
      (points || []).forEach(function (p) {
        if (p.loss !== null && p.loss !== undefined && (lastTrain === null || p.step > lastTrain)) {
          train.data.push({ x: p.step, y: p.loss }); lastTrain = p.step; added += 1;
        }
        if (p.eval_loss !== null && p.eval_loss !== undefined && (lastEval === null || p.step > lastEval)) {
          evals.data.push({ x: p.step, y: p.eval_loss }); lastEval = p.step; added += 1;
        }
      });
      if (added) { chart.update("none"); }
      canvas.dataset.points = String(train.data.length);
    }

    function showStatus(text) { if (status) { status.textContent = text; } }

    function finish(body) {
      canvas.dataset.done = "true";
      if (watcher) { watcher.stop(""); watcher = null; }
      showStatus(train.data.length + " points · step " + body.current_step + " / " + body.total_steps + " · " + body.status);
    }

    function readMetrics() {
      return fetchPoints(url, after()).then(function (body) {
        addPoints(body.points);
        if (body.finished) { finish(body); } else {
          showStatus(train.data.length + " points · step " + body.current_step + " / " + body.total_steps + " · live");
        }
        return body;
      });
    }

    function tick() {
      readMetrics().then(function (body) {
        if (!body.finished) { setTimeout(tick, POLL_MS); }
      }).catch(function (err) {
        showStatus(String(err.message || err));
        setTimeout(tick, POLL_MS * 3);
      });
    }

    if (!canvas.dataset.liveTopic || !window.rmnLive) { tick(); return; }

    var progressUrl = canvas.dataset.progressUrl;
    function readProgress() { /* the progress card and the whole log, from the database */
      return window.htmx ? window.htmx.ajax("GET", progressUrl, { target: "#job-progress", swap: "innerHTML" }) : Promise.resolve();
    }
    function readAll() { return Promise.all([readMetrics(), readProgress()]); }

    function field(name) { return document.querySelector('#job-progress [data-live-field="' + name + '"]'); }
    function setText(name, text) { var el = field(name); if (el) { el.textContent = text; } }

    function showProgress(e) {
      setText("step", e.step + " / " + (e.total_steps || "?"));
      setText("step-sub", "epoch " + Number(e.epoch || 0).toFixed(2));
      if (e.tokens_per_second !== null && e.tokens_per_second !== undefined) { setText("tokens_per_second", Math.round(e.tokens_per_second)); }
      setText("eta", e.eta_seconds === null || e.eta_seconds === undefined ? "—" : Math.round(e.eta_seconds) + " s");
      setText("heartbeat", "just now");
      var bar = document.querySelector("#job-progress .progress-bar");
      if (bar) {
        bar.style.width = Math.round(e.progress_pct || 0) + "%";
        bar.parentNode.setAttribute("aria-valuenow", String(Math.round(e.progress_pct || 0)));
        var label = bar.parentNode.querySelector(".progress-label");
        if (label) { label.textContent = e.step + " / " + e.total_steps; }
      }
    }

    function appendLog(fragment) { /* each fragment once: skip what the page has, re-read the log on a gap */
      var pre = document.getElementById("job-log");
      if (!pre || !fragment) { return; }
      var have = Number(pre.dataset.logLength || 0);
      if (fragment.end <= have) { return; }
      if (fragment.start !== have) { readProgress(); return; }
      pre.textContent = (have ? pre.textContent : "") + fragment.text;
      pre.dataset.logLength = String(fragment.end);
    }

    function onEvent(e) {
      if (e.kind === "progress") {
        addPoints(e.points);
        showProgress(e);
        if (e.log) { appendLog(e.log); }
        if (e.resync) { readMetrics(); }
        showStatus(train.data.length + " points · step " + e.step + " / " + e.total_steps + " · live");
      } else if (e.kind === "log") {
        appendLog(e);
      } else if (e.kind === "heartbeat") {
        setText("heartbeat", "just now");
      } else if (e.kind === "status") {
        readAll(); /* a new status changes the whole card (badge, actions, result): read it once */
      }
    }

    watcher = window.rmnLive.watch({
      topic: canvas.dataset.liveTopic,
      pk: canvas.dataset.livePk,
      statusEl: document.getElementById("live-status"),
      pollMs: POLL_MS,
      onEvent: onEvent,
      catchUp: readAll,
      poll: readAll
    });
    canvas.rmnLiveWatcher = watcher;
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
