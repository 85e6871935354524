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
