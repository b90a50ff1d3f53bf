// The console's only script (served by the app: the Content-Security-Policy allows no inline script). The pages
// work without it; it only spares a double decision and refreshes a page whose workflow is still running.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("decision-form");
  if (form) {
    form.addEventListener("submit", function () {
      // Disable after the browser has read the pressed button's name=value (it goes with the form).
      setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  }
  var refresh = document.getElementById("refresh");
  if (refresh) {
    var seconds = parseInt(refresh.getAttribute("data-refresh-seconds"), 10) || 5;
    setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
});
