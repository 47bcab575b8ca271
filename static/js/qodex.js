// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

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

  // The sidebar on narrow screens.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-toggle]");
    if (toggle) {
      var target = document.getElementById(toggle.getAttribute("data-toggle"));
      if (target) {
        var open = target.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      }
    }
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
  window.addEventListener("hashchange", showTab);
  document.addEventListener("DOMContentLoaded", showTab);
})();
