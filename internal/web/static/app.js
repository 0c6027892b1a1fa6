// Patchbay console: progressive enhancement only. Every page works without
// this script. It never writes HTML: server data goes in as text.
"use strict";

(function () {
  var change = document.getElementById("change");
  if (!change || !change.dataset.statusUrl) {
    return;
  }
  var url = change.dataset.statusUrl;
  var stateEl = document.getElementById("change-state");
  var initial = stateEl ? stateEl.dataset.state : "";
  var busy = false;

  function label(s) {
    return String(s).replace(/[_-]/g, " ");
  }

  // statusClass mirrors the template function of the same name.
  function statusClass(s) {
    switch (String(s).toLowerCase()) {
      case "succeeded": case "done": case "approved":
        return "st-ok";
      case "failed": case "rolled_back": case "rejected": case "halted":
        return "st-bad";
      case "running": case "installing": case "rebooting": case "verifying": case "rolling_back": case "awaiting-signoff":
        return "st-busy";
    }
    return "st-idle";
  }

  function apply(data) {
    if (stateEl && data.state !== initial) {
      // The state changed: reload so the action buttons match it (and
      // drop the one-time "done" notice from the address).
      window.location.replace(window.location.pathname);
      return;
    }
    (data.hosts || []).forEach(function (h) {
      var row = change.querySelector('tr[data-host-id="' + CSS.escape(String(h.host_id)) + '"]');
      if (!row) {
        return;
      }
      var status = row.querySelector(".status .tag");
      var detail = row.querySelector(".detail");
      if (status && status.textContent !== label(h.status)) {
        status.textContent = label(h.status);
        status.className = "tag " + statusClass(h.status);
      }
      if (detail && detail.textContent !== h.detail) {
        detail.textContent = h.detail;
      }
    });
  }

  function poll() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("status " + r.status);
        }
        return r.json();
      })
      .then(apply)
      .catch(function () {
        // Leave the page as it is; the next tick tries again.
      })
      .finally(function () {
        busy = false;
      });
  }

  window.setInterval(poll, 2000);
})();
