/* The start page's "Nearest to me": asks the browser for its position (only when the driver clicks, and only
   if they allow it) and reloads the page with lat and lon as query parameters; the server sorts the stations. */
(function () {
  "use strict";
  var button = document.querySelector("[data-nearest-station]");
  var note = document.querySelector("[data-nearest-note]");
  if (!button) { return; }
  if (!("geolocation" in navigator)) { return; }
  button.hidden = false;
  function tell(text) { if (note) { note.textContent = text; } }
  button.addEventListener("click", function () {
    button.disabled = true;
    tell(button.getAttribute("data-locating"));
    navigator.geolocation.getCurrentPosition(
      function (position) {
        var params = new URLSearchParams();
        params.set("lat", position.coords.latitude.toFixed(5));
        params.set("lon", position.coords.longitude.toFixed(5));
        window.location.search = params.toString();
      },
      function () {
        button.disabled = false;
        tell(button.getAttribute("data-refused"));
      },
      { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 }
    );
  });
})();
