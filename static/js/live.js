/* Live updates over a WebSocket, with polling while the socket is down: window.rmnLive.watch(options).

   The server relays an object's events (/ws/live/<topic>/<pk>/); this script acknowledges what it handled (the
   server stops sending past a window of unacknowledged events and later sends one "resync"), reconnects with
   backoff, and polls while disconnected. Every (re)connection starts with one catch-up read of the database; events
   that arrive meanwhile are held and replayed after it, so the page's own dedupe (by step / log offset) sees them
   in order: no lost points, no duplicates. */
(function () {
  "use strict";
  var RETRY_MS = [1000, 2000, 4000, 8000, 15000];
  var ACK_EVERY = 16;
  var ACK_DELAY_MS = 200;

  function socketUrl(topic, pk) {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/ws/live/" + topic + "/" + pk + "/";
  }

  /* options: topic, pk, onEvent(event), catchUp() -> Promise, poll() -> Promise, pollMs, statusEl */
  function watch(o) {
    var ws = null, attempt = 0, acked = 0, lastSeq = 0, ackTimer = null;
    var pollTimer = null, retryTimer = null, stopped = false, everLive = false;
    var held = null; /* events held while a catch-up read runs (null: none running) */
    var pollMs = o.pollMs || 2000;

    function say(state, text) {
      if (!o.statusEl) { return; }
      o.statusEl.dataset.liveState = state;
      o.statusEl.textContent = text;
    }

    function ack() {
      ackTimer = null;
      if (ws && ws.readyState === WebSocket.OPEN && lastSeq > acked) {
        acked = lastSeq;
        ws.send(JSON.stringify({ ack: lastSeq }));
      }
    }
    function scheduleAck() {
      if (lastSeq - acked >= ACK_EVERY) { ack(); } else if (!ackTimer) { ackTimer = setTimeout(ack, ACK_DELAY_MS); }
    }

    function pollTick() {
      pollTimer = setTimeout(function () {
        var done = function () { if (pollTimer !== null && !stopped) { pollTick(); } };
        o.poll().then(done, done);
      }, pollMs);
    }
    function startPolling() {
      if (stopped) { return; }
      say("polling", (everLive ? "Live updates interrupted" : "Live updates unavailable") +
        " — checking every " + Math.round(pollMs / 1000) + " s until the connection is back");
      if (pollTimer !== null) { return; }
      pollTimer = 0;
      var go = function () { if (pollTimer !== null && !stopped) { pollTick(); } };
      o.poll().then(go, go); /* the first check at once: the page must not wait a whole period to show news */
    }
    function stopPolling() {
      if (pollTimer) { clearTimeout(pollTimer); }
      pollTimer = null;
    }

    function catchUp() {
      held = [];
      var replay = function () {
        var events = held || [];
        held = null;
        events.forEach(function (e) { if (!stopped) { o.onEvent(e); } });
      };
      o.catchUp().then(replay, function () { replay(); });
    }

    function connect() {
      retryTimer = null;
      if (stopped) { return; }
      var socket;
      try { socket = new WebSocket(socketUrl(o.topic, o.pk)); } catch (err) { closed(); return; }
      ws = socket;
      socket.onmessage = function (message) {
        var event;
        try { event = JSON.parse(message.data); } catch (err) { return; }
        if (event.kind === "hello") {
          acked = 0;
          attempt = 0;
          everLive = true;
          stopPolling();
          say("live", "Live: updates arrive as the worker writes them");
          lastSeq = event.seq;
          scheduleAck();
          catchUp();
          return;
        }
        lastSeq = event.seq;
        scheduleAck();
        if (event.kind === "resync") { catchUp(); return; }
        if (held) { held.push(event); } else { o.onEvent(event); }
      };
      socket.onclose = function () { if (ws === socket) { ws = null; closed(); } };
    }

    function closed() {
      if (stopped) { return; }
      held = null;
      startPolling();
      retryTimer = setTimeout(connect, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]);
      attempt += 1;
    }

    function stop(text) {
      stopped = true;
      stopPolling();
      if (retryTimer) { clearTimeout(retryTimer); }
      if (ws) { var socket = ws; ws = null; socket.close(1000); }
      say("done", text || "");
    }

    connect();
    return { stop: stop, socket: function () { return ws; } };
  }

  window.rmnLive = { watch: watch };
})();

/* Self-refreshing partials ({% live_refresh %}): each object gets one socket; an event (other than a heartbeat)
   fires "rmn:live" on the partial, which re-reads it once. While the socket is down the partial polls; once the
   partial renders without the attribute (the object finished), the socket closes. */
(function () {
  "use strict";
  var watchers = {}, ended = {};
  var FINISHED = ["completed", "failed", "cancelled", "ready"];

  function pollMs(text) {
    var m = /(\d+(?:\.\d+)?)\s*(ms|s)/.exec(text || "");
    if (!m) { return 2000; }
    return m[2] === "ms" ? Number(m[1]) : Number(m[1]) * 1000;
  }
  function live(id) {
    var el = document.getElementById(id);
    return el && el.hasAttribute("data-live-refresh") ? el : null;
  }

  function wire(el) {
    var key = el.id;
    if (!key || watchers[key] || ended[key]) { return; }
    var status = null;
    if (!/^(TD|TH|TR|TBODY)$/.test(el.tagName)) { /* a table cell has no room for a line of its own */
      status = document.createElement("p");
      status.className = "fine live-status";
      status.setAttribute("role", "status");
      status.dataset.liveFor = key;
      el.parentNode.insertBefore(status, el);
    }
    var throttleMs = Number(el.dataset.liveThrottleMs || 0), lastAt = 0, trailing = null;
    function refreshNow() {
      trailing = null;
      lastAt = Date.now();
      var current = live(key);
      if (current && window.htmx) { window.htmx.trigger(current, "rmn:live"); }
      return Promise.resolve();
    }
    function refresh() { /* at most one refresh per throttle period; the last event always gets one */
      var wait = lastAt + throttleMs - Date.now();
      if (wait <= 0) { return refreshNow(); }
      if (!trailing) { trailing = setTimeout(refreshNow, wait); }
      return Promise.resolve();
    }
    function end() { ended[key] = true; if (watchers[key]) { watchers[key].stop(""); delete watchers[key]; } }
    watchers[key] = window.rmnLive.watch({
      topic: el.dataset.liveTopic, pk: el.dataset.livePk, statusEl: status, pollMs: pollMs(el.dataset.livePoll),
      onEvent: function (e) {
        if (e.kind === "heartbeat") { return; }
        refresh();
        if (e.kind === "status" && FINISHED.indexOf(e.status) >= 0) { end(); }
      },
      catchUp: refreshNow, poll: refreshNow
    });
  }

  function scan() {
    if (!window.rmnLive || !window.WebSocket) { return; }
    document.querySelectorAll("[data-live-refresh]").forEach(wire);
    Object.keys(watchers).forEach(function (key) {
      if (!live(key)) { watchers[key].stop(""); delete watchers[key]; }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", scan); } else { scan(); }
  document.addEventListener("htmx:afterSettle", scan);
})();
