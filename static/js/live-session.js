/* Keeps the running session's figures on the dashboard up to date without reloading.
 * Each element with data-live-url is polled; children with data-live="<field>" get the value.
 * With data-live-cost-url, the session's cost so far is polled too (data-live="cost_display"). */
(function () {
  "use strict";

  var FIELDS = ["energy_kwh_display", "power_kw_display", "duration_display", "state_display"];

  function update(panel, figures) {
    FIELDS.forEach(function (field) {
      var target = panel.querySelector('[data-live="' + field + '"]');
      if (target && figures[field] !== undefined && target.textContent !== String(figures[field])) {
        target.textContent = figures[field];
      }
    });
    panel.setAttribute("data-state", figures.state);
  }

  function watch(panel) {
    var url = panel.getAttribute("data-live-url");
    var every = parseInt(panel.getAttribute("data-live-interval"), 10) || 5000;
    var timer = null;

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (figures) {
          if (!figures) { return; }
          update(panel, figures);
          if (figures.state !== "active") {
            window.clearInterval(timer);
            pollCost();  /* once more: the final price once it is frozen */
            var stop = panel.querySelector("[data-live-stop]");
            if (stop) { stop.hidden = true; }
          }
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    }

    var costUrl = panel.getAttribute("data-live-cost-url");

    function pollCost() {
      if (!costUrl) { return; }
      fetch(costUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (cost) {
          if (!cost) { return; }
          var target = panel.querySelector('[data-live="cost_display"]');
          if (target && target.textContent !== cost.cost_display) { target.textContent = cost.cost_display; }
          var label = panel.querySelector("[data-live-cost-label]");
          if (label && cost.cost_label) { label.textContent = cost.cost_label; }
        })
        .catch(function () { /* the next poll tries again */ });
    }

    timer = window.setInterval(function () { poll(); pollCost(); }, every);
  }

  document.querySelectorAll("[data-live-url]").forEach(watch);
})();
