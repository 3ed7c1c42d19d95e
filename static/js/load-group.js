/* Keeps a load group's live part (limit, other loads, turns, each connector's share) up to date without reloading.
 * #load-live's data-live-url is fetched every data-live-interval ms; elements with data-live="<field>" get the
 * field's text and #load-rows is rebuilt from its rows (text only: nothing the server sends becomes markup). */
(function () {
  "use strict";

  var COLUMNS = ["connector", "session", "customer", "status", "limit_kw", "limit_a", "draw_kw", "decided"];

  function cell(row, column) {
    var td = document.createElement("td");
    if (column === "session" && row.session_url) {
      var link = document.createElement("a");
      link.href = row.session_url;
      link.textContent = row.session;
      td.appendChild(link);
    } else {
      td.textContent = row[column];
    }
    return td;
  }

  function update(panel, live) {
    panel.querySelectorAll("[data-live]").forEach(function (target) {
      var value = live[target.getAttribute("data-live")];
      if (value !== undefined && target.textContent !== String(value)) { target.textContent = value; }
    });
    var body = panel.querySelector("#load-rows");
    if (!body || !live.rows.length) { return; }
    var rows = live.rows.map(function (row) {
      var tr = document.createElement("tr");
      tr.className = "status-" + row.status_code;
      COLUMNS.forEach(function (column) { tr.appendChild(cell(row, column)); });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  var panel = document.getElementById("load-live");
  if (!panel) { return; }
  var url = panel.getAttribute("data-live-url");
  var every = parseInt(panel.getAttribute("data-live-interval"), 10) || 5000;
  window.setInterval(function () {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (live) { if (live) { update(panel, live); } })
      .catch(function () { /* offline for a moment: the next fetch tries again */ });
  }, every);
})();
