// Behaviour every page shares, kept out of the markup (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  // <select data-autosubmit>: picking a value submits its form (the header's team picker).
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });
  // <form data-confirm="…">: ask before a plain form does something that cannot be undone.
  document.addEventListener("submit", function (event) {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
