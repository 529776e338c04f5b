// skiff ui: live updates. The server sends server-sent events carrying
// HTML fragments (table bodies) that replace the parts of the page with the
// same id. Without JavaScript the pages are complete; they just do not
// update until reloaded.
(function () {
  "use strict";
  var live = document.body.getAttribute("data-live");
  if (!live || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  function say(text) { if (status) { status.textContent = text; } }

  // replace swaps in new HTML, keeping keyboard focus on the element with
  // the same id if it is still there.
  function replace(id, html) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : "";
    el.innerHTML = html;
    if (focused) {
      var again = document.getElementById(focused);
      if (again) { again.focus(); }
    }
  }

  var source = new EventSource("/events?" + live);
  ["env-rows", "env-summary", "history-rows", "inventory-rows"].forEach(function (id) {
    source.addEventListener(id, function (e) { replace(id, e.data); });
  });
  source.addEventListener("updated", function (e) {
    document.body.setAttribute("data-updated", e.data);
    say("Live · updated " + e.data);
  });
  source.addEventListener("problem", function (e) { say(e.data); });
  source.onerror = function () { say("Live updates interrupted; reconnecting…"); };
  say("Live · connecting…");

  // A confirmed action takes a while (apply and status check): say so and
  // keep it from being sent twice.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.method.toLowerCase() !== "post") { return; }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.textContent = "Working… (this waits for the cluster)";
    }
  });
})();
