/* The live operations board follows the chargers without a reload (no inline script).

   Live: the board's websocket names the stations that changed; at most every data-batch-ms their rows are
   fetched (rows URL ?only=<ids> with the page's filters) and each station's own <tbody data-station> is
   swapped in, with the whole board's counts and map. A station that joins or leaves the filtered board, too
   many at once, or anything unexpected fetches all rows instead; so does every data-full-ms (durations move on).
   Polling: while the websocket cannot connect or has dropped, all rows every data-poll-ms (or twice as long
   as they take to come, on a large board), and the websocket is tried again with a growing wait. The help line says which of the two the page is in.
   Commands from a row ask first when their button says so (data-board-confirm). */
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var live = document.getElementById("board-live");
  var modeLine = document.getElementById("board-updated");
  var url = board.getAttribute("data-rows-url");
  function number(name, fallback) { return parseInt(board.getAttribute(name), 10) || fallback; }
  var pollMs = number("data-poll-ms", 2000);
  var batchMs = number("data-batch-ms", 500);
  var fullMs = number("data-full-ms", 60000);
  var onlyMax = number("data-only-max", 50);

  var pending = new Set();   // station ids named by the websocket, not fetched yet
  var needFull = false;      // all rows are due
  var busy = false;          // a fetch is under way (or the page is going)
  var timer = null;          // the next flush
  var lastFetch = 0;
  var socket = null, pollTimer = null, retryMs = 1000;
  var fullTook = 0;          // how long the last fetch of all rows took (ms): polling never waits less than twice that

  function query() {
    var params = new URLSearchParams(window.location.search);
    params.delete("only");
    return params;
  }

  function setMode(mode) {
    modeLine.setAttribute("data-mode", mode);
    modeLine.textContent = board.getAttribute("data-mode-" + mode);
  }

  function get(params) {
    var search = params.toString();
    return fetch(url + (search ? "?" + search : ""), {
      credentials: "same-origin", headers: { "X-Requested-With": "fetch" }, cache: "no-store"
    }).then(function (response) {
      if (response.redirected || !response.ok) { throw new Error("board: " + response.status); }
      return response.text();
    });
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html;  // our own server's fragment, rendered with autoescaping
    return template.content;
  }

  function full() {
    needFull = false;
    pending.clear();
    var started = Date.now();
    return get(query()).then(function (html) {
      live.innerHTML = html;
      fullTook = Date.now() - started;
    });
  }

  function partial(ids) {
    var params = query();
    params.set("only", ids.join(","));
    return get(params).then(function (html) {
      var part = fragment(html);
      var counts = part.getElementById("board-counts"), map = part.getElementById("board-map-area");
      if (!counts || !map || !live.querySelector("#board-table")) { return full(); }
      var swaps = [];
      for (var i = 0; i < ids.length; i++) {
        var selector = 'tbody[data-station="' + ids[i] + '"]';
        var fresh = part.querySelector(selector), shown = live.querySelector(selector);
        if (!fresh !== !shown) { return full(); }  // it joined or left the filtered board: its place is not known here
        if (fresh) { swaps.push([shown, fresh]); }
      }
      swaps.forEach(function (swap) { swap[0].replaceWith(swap[1]); });
      document.getElementById("board-counts").replaceWith(counts);
      document.getElementById("board-map-area").replaceWith(map);
    });
  }

  function flush() {
    timer = null;
    if (busy) { return; }
    if (document.hidden || (!needFull && pending.size === 0)) { return; }  // caught up when shown again
    busy = true;
    lastFetch = Date.now();
    var work;
    if (needFull || pending.size > onlyMax) {
      work = full();
    } else {
      var ids = Array.from(pending);
      pending.clear();  // ids named from now on wait for the next fetch
      work = partial(ids);
    }
    work.then(function () { live.classList.remove("stale"); })
      .catch(function () { live.classList.add("stale"); needFull = true; })
      .then(function () {
        busy = false;
        if (needFull || pending.size) { schedule(); }
      });
  }

  function schedule() {
    if (timer !== null || busy) { return; }
    timer = window.setTimeout(flush, Math.max(0, lastFetch + batchMs - Date.now()));
  }

  function refreshAll() {
    needFull = true;
    schedule();
  }

  function poll() {
    pollTimer = window.setTimeout(function () { refreshAll(); poll(); }, Math.max(pollMs, 2 * fullTook));
  }

  function startPolling() {
    setMode("polling");
    if (pollTimer === null) { poll(); }
  }

  function lost(lostSocket) {
    if (socket !== lostSocket) { return; }
    socket = null;
    startPolling();
    window.setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 30000);
  }

  function connect() {
    var address = board.getAttribute("data-websocket-url") ||
      (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/board/";
    var ws;
    try {
      ws = socket = new WebSocket(address);
    } catch (error) {
      socket = null;
      startPolling();
      return;
    }
    var giveUp = window.setTimeout(function () {  // a handshake that neither opens nor fails (blocked, hanging)
      if (ws.readyState !== WebSocket.OPEN) { ws.close(); lost(ws); }
    }, 5000);
    ws.onopen = function () {
      window.clearTimeout(giveUp);
      retryMs = 1000;
      if (pollTimer !== null) { window.clearTimeout(pollTimer); pollTimer = null; }
      setMode("live");
      refreshAll();  // whatever changed while it was not connected
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { refreshAll(); return; }
      if (!message || !Array.isArray(message.changed)) { refreshAll(); return; }
      message.changed.forEach(function (id) { pending.add(String(parseInt(id, 10))); });
      schedule();
    };
    ws.onclose = function () {
      window.clearTimeout(giveUp);
      lost(ws);
    };
  }

  var commandForm = document.getElementById("board-command");
  commandForm.addEventListener("submit", function (event) {
    var button = event.submitter;
    var kind = button ? button.getAttribute("data-board-confirm") : null;
    if (kind && !window.confirm(board.getAttribute("data-" + kind + "-confirm"))) {
      event.preventDefault();
      return;
    }
    busy = true;  // the page is about to go: no swap under the click
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { refreshAll(); }
  });
  window.setInterval(refreshAll, fullMs);
  connect();
})();
