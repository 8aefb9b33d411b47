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
  // A .scroll-x wider than its window says which way there is more (data-more: "left", "right" or
  // "both"; app.css fades that edge), and one marked data-scroll-end opens at its end: a chart's
  // newest day.
  function showWhereMoreIs(box) {
    const end = box.scrollWidth - box.clientWidth;
    const left = box.scrollLeft > 1;
    const right = box.scrollLeft < end - 1;
    if (left || right) box.dataset.more = left && right ? "both" : left ? "left" : "right";
    else delete box.dataset.more;
  }
  const resized = new ResizeObserver(function (entries) {
    entries.forEach(function (entry) { showWhereMoreIs(entry.target); });
  });
  function setUpScrollers(root) {
    const boxes = Array.from(root.querySelectorAll(".scroll-x"));
    if (root.matches && root.matches(".scroll-x")) boxes.push(root);
    boxes.forEach(function (box) {
      if (box.hasAttribute("data-scroll-end")) box.scrollLeft = box.scrollWidth;
      showWhereMoreIs(box);
      resized.observe(box);
    });
  }
  document.addEventListener("scroll", function (event) {
    const box = event.target;
    if (box.classList && box.classList.contains("scroll-x")) showWhereMoreIs(box);
  }, {capture: true, passive: true});  // scroll does not bubble: caught on its way down
  setUpScrollers(document);
  document.addEventListener("htmx:load", function (event) { setUpScrollers(event.target); });
})();
