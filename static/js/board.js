/* The live operations board: fetch the rows every few seconds and swap them in (no reload, no inline script).
   Commands from a row ask first when their form says so (data-board-confirm). */
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var live = document.getElementById("board-live");
  var url = board.getAttribute("data-rows-url");
  var every = parseInt(board.getAttribute("data-poll-ms"), 10) || 2000;
  var busy = false;

  function query() {
    return window.location.search || "";
  }

  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(url + query(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" }, cache: "no-store" })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("board: " + response.status); }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;  // our own server's fragment, rendered with autoescaping
        live.classList.remove("stale");
      })
      .catch(function () { live.classList.add("stale"); })
      .then(function () { busy = false; });
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

  window.setInterval(refresh, every);
})();
