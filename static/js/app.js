// Behaviour every page shares, kept out of the markup (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  // <select data-autosubmit>: picking a value submits its form (the header's team picker).
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });
  // The header's menu on a narrow screen.
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-menu-toggle]");
    if (!toggle) return;
    const open = document.getElementById("topbar").classList.toggle("open");
    toggle.setAttribute("aria-expanded", open);
  });
  // <form data-confirm="…">: ask before a plain form does something that cannot be undone.
  document.addEventListener("submit", function (event) {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
