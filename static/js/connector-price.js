/* Shows the price that applies to you for the chosen connector (from the prices endpoint). */
(function () {
  "use strict";
  var hint = document.querySelector("[data-connector-price]");
  var select = document.querySelector('select[name="connector"]');
  if (!hint || !select) { return; }
  fetch(hint.getAttribute("data-prices-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) {
      if (!data) { return; }
      function show() { hint.textContent = data.connectors[select.value] || ""; }
      select.addEventListener("change", show);
      show();
    })
    .catch(function () { /* the link to the prices page is still there */ });
})();
