// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // The viewer's time zone in the `tz` cookie: pages that show UTC moments add the local time
  // (qodex/timezones.py). Without it they show UTC only.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var known = /(?:^|; )tz=([^;]*)/.exec(document.cookie);
    if (zone && /^[A-Za-z0-9_+\/-]{1,64}$/.test(zone) && (!known || known[1] !== zone)) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax" +
        (location.protocol === "https:" ? "; secure" : "");
    }
  } catch (error) { /* no Intl: UTC it is */ }

  // Destructive forms ask first: <form data-confirm="Remove …?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <select data-autosubmit> submits its form on change.
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) {
      event.target.form.requestSubmit();
    }
  });

  // <select data-marks-destructive="id">: choosing DELETE ticks that checkbox (a scenario step's
  // "Destructive"); the person can untick it.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-marks-destructive]") || select.value !== "DELETE") return;
    var box = document.getElementById(select.getAttribute("data-marks-destructive"));
    if (box) box.checked = true;
  });

  // <button data-copy="id"> copies the text of the element with that id (a new API key, a command).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });

  // <button data-toggle="id"> opens and closes the element with that id (the sidebar on narrow screens).
  function setOpen(toggle, target, open) {
    target.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-toggle]");
    if (toggle) {
      var target = document.getElementById(toggle.getAttribute("data-toggle"));
      if (target) setOpen(toggle, target, !target.classList.contains("open"));
    }
    // A click outside an open dropdown (<details class="switcher">) closes it.
    document.querySelectorAll("details.switcher[open]").forEach(function (details) {
      if (!details.contains(event.target)) details.open = false;
    });
  });

  // Keyboard: Escape closes the open dropdown or panel; arrows move through a dropdown's items.
  document.addEventListener("keydown", function (event) {
    var details = event.target.closest && event.target.closest("details.switcher");
    if (event.key === "Escape") {
      // The dropdown holding the focus, else any open one: a click on a menu's label (or Safari's
      // unfocused summary) leaves the focus on the body.
      var open = details && details.open ? details : document.querySelector("details.switcher[open]");
      if (open) {
        open.open = false;
        open.querySelector("summary").focus();
        return;
      }
      document.querySelectorAll("[data-toggle]").forEach(function (toggle) {
        var target = document.getElementById(toggle.getAttribute("data-toggle"));
        if (target && target.classList.contains("open")) {
          setOpen(toggle, target, false);
          toggle.focus();
        }
      });
      return;
    }
    if (!details || (event.key !== "ArrowDown" && event.key !== "ArrowUp")) return;
    var items = Array.prototype.slice.call(details.querySelectorAll("[role=menuitem]"));
    if (!items.length) return;
    event.preventDefault();
    details.open = true;
    var index = items.indexOf(document.activeElement);
    if (index === -1) index = event.key === "ArrowDown" ? -1 : items.length;
    var next = index + (event.key === "ArrowDown" ? 1 : -1);
    items[(next + items.length) % items.length].focus();
  });

  // Tabs addressed by URL fragment (/admin/#llm): show one panel at a time.
  function showTab() {
    var nav = document.querySelector("[data-fragment-tabs]");
    if (!nav) return;
    var panels = document.querySelectorAll(".tab-panel");
    var id = (window.location.hash || "#overview").slice(1);
    if (!document.getElementById(id)) id = panels.length ? panels[0].id : "";
    panels.forEach(function (panel) { panel.hidden = panel.id !== id; });
    nav.querySelectorAll("a[href^='#']").forEach(function (link) {
      if (link.getAttribute("href") === "#" + id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
  }
  // Switching tabs keeps the page where it is instead of jumping to the panel's anchor.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-fragment-tabs] a[href^='#']");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    showTab();
  });
  // On a narrow screen the tab strip scrolls sideways: bring the current tab into view.
  function revealCurrentTabs() {
    document.querySelectorAll(".tabs").forEach(function (nav) {
      var current = nav.querySelector("[aria-current]");
      if (current && nav.scrollWidth > nav.clientWidth) {
        nav.scrollLeft = current.offsetLeft - (nav.clientWidth - current.offsetWidth) / 2;
      }
    });
  }
  window.addEventListener("hashchange", showTab);
  window.addEventListener("popstate", showTab);
  document.addEventListener("DOMContentLoaded", function () {
    showTab();
    revealCurrentTabs();
  });
})();

// Environment form: show only the login settings of the chosen authentication (all show without JS).
(function () {
  "use strict";
  function showAuthGroups(select) {
    var form = select.form;
    if (!form) return;
    form.querySelectorAll(".auth-group[data-auth]").forEach(function (group) {
      var wanted = group.getAttribute("data-auth").split(" ").indexOf(select.value) !== -1;
      group.hidden = !wanted && !group.querySelector(".has-error");  // never hide a field's error
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[name=auth_type]")) showAuthGroups(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[name=auth_type]").forEach(showAuthGroups);
  });

  // Presets (<a data-preset data-read_only="true" data-max_rps="5" …>) fill the constraints in place,
  // keeping whatever was already typed; without JS the link reloads the page with ?preset=.
  var CONSTRAINTS = ["read_only", "max_rps", "allow_destructive", "allow_security_testing"];
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".preset-picker a[data-preset]");
    var form = document.querySelector("form.env-form");
    if (!link || !form || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    CONSTRAINTS.forEach(function (name) {
      var input = form.elements[name];
      var value = link.getAttribute("data-" + name);
      if (!input || value === null) return;
      if (input.type === "checkbox") input.checked = value === "true";
      else input.value = value;
    });
    if (form.elements.preset) form.elements.preset.value = link.getAttribute("data-preset");
    link.parentNode.querySelectorAll("a[data-preset]").forEach(function (other) {
      if (other === link) other.setAttribute("aria-current", "true");
      else other.removeAttribute("aria-current");
    });
    history.replaceState(null, "", link.getAttribute("href"));
  });
})();

// Playground and chat: a reply marked data-stream="<url>" (the panel htmx just swapped in) streams in
// from server-sent events: "delta" (text), then "done" (the figures' HTML) or "refusal" (a sentence).
// Within its [data-stream-scope] (the playground's result card otherwise): [data-stream-clear] fields
// empty once answered; on a refusal [data-stream-refused] show and [data-stream-pending] hide.
(function () {
  "use strict";
  function stream(reply) {
    var url = reply.getAttribute("data-stream");
    reply.removeAttribute("data-stream");
    var scope = reply.closest("[data-stream-scope]") || reply.closest(".playground-result");
    var problem = scope.querySelector("[data-stream-error]");
    var figures = scope.querySelector("[data-stream-figures]");
    var send = scope.querySelector("button[type=submit]") || document.querySelector("#playground button[type=submit]");
    if (send) send.disabled = true;
    var source = new EventSource(url);
    function finish(message) {
      source.close();
      reply.removeAttribute("aria-busy");
      if (send) send.disabled = false;
      if (message) {
        problem.textContent = message;
        problem.hidden = false;
        scope.querySelectorAll("[data-stream-refused]").forEach(function (el) { el.hidden = false; });
        scope.querySelectorAll("[data-stream-pending]").forEach(function (el) { el.hidden = true; });
      } else {
        scope.querySelectorAll("[data-stream-clear]").forEach(function (field) { field.value = ""; });
      }
    }
    source.addEventListener("delta", function (event) { reply.textContent += JSON.parse(event.data); });
    source.addEventListener("done", function (event) {
      figures.innerHTML = JSON.parse(event.data).html;  // rendered (and escaped) by the server
      finish();
    });
    source.addEventListener("refusal", function (event) { finish(JSON.parse(event.data).message); });
    source.onerror = function () { finish("The connection to the server dropped. Send the prompt again."); };
  }
  document.addEventListener("htmx:load", function (event) {
    event.detail.elt.querySelectorAll("[data-stream]").forEach(stream);
  });
})();
