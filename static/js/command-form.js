/* The admin's command form shows only the fields of the chosen command: each field's input names its commands
   in data-commands (without this script every field shows, its help saying which commands use it). */
(function () {
  "use strict";
  var action = document.getElementById("id_action");
  if (!action) { return; }
  function show() {
    document.querySelectorAll("[data-commands]").forEach(function (input) {
      var row = input.closest(".form-row");
      if (row) { row.hidden = input.getAttribute("data-commands").split(" ").indexOf(action.value) < 0; }
    });
  }
  action.addEventListener("change", show);
  show();
})();
