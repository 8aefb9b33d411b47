// Playground behaviour that the server cannot do: per-model ranges, the composer, the code dialog.
(function () {
  "use strict";
  const specs = JSON.parse(document.getElementById("model-specs").textContent);
  const form = document.getElementById("turn-form");
  const box = document.getElementById("id_message");
  const modelSelect = document.getElementById("id_model");
  const transcript = document.getElementById("transcript");

  function fmt(x) { return Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100); }

  // Each parameter control shows the chosen model's range and default.
  function applyModel() {
    const spec = specs[modelSelect.value];
    if (!spec) return;
    const ranges = {
      temperature: spec.temperature, top_p: spec.top_p,
      max_tokens: [1, spec.max_output_tokens, spec.default_max_tokens],
    };
    for (const [name, range] of Object.entries(ranges)) {
      const input = form.elements[name];
      const label = document.querySelector(`[data-range-for="${name}"]`);
      if (!range || !input) continue;
      input.min = range[0]; input.max = range[1];
      input.placeholder = "default " + fmt(range[2]);
      label.textContent = `${fmt(range[0])}–${fmt(range[1])}, default ${fmt(range[2])}`;
    }
    const hint = document.getElementById("model-hint");
    const notes = [];
    if (spec.deprecated) notes.push("Deprecated by BigModel: it may stop working; pick a current model.");
    notes.push(`Context ${spec.context_tokens.toLocaleString()} tokens, replies up to ${spec.max_output_tokens.toLocaleString()}.`);
    hint.textContent = notes.join(" ");
    hint.classList.toggle("warn", !!spec.deprecated);
  }
  modelSelect.addEventListener("change", applyModel);
  applyModel();

  // Enter sends, Shift+Enter is a new line.
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim()) htmx.trigger(form, "submit");
    }
  });

  function scrollToEnd() { transcript.scrollTop = transcript.scrollHeight; }

  // A turn went through (fired on receipt, before the swap): empty the box.
  document.body.addEventListener("turn-sent", function () {
    box.value = "";
    document.getElementById("form-errors").innerHTML = "";
  });

  // New messages in the transcript: a failed reply gives its message back to the box, so nothing
  // typed is lost; only the last turn keeps its Regenerate and Edit buttons. (Watched in the DOM:
  // a reply arrives by an SSE swap, which raises no event on the page.)
  // Failures already on the page when it loads are old news: leave the box alone for them.
  transcript.querySelectorAll(".message.failed").forEach((failed) => { failed.dataset.restored = "1"; });
  // htmx settles a swapped element's new attributes a moment after inserting it, so look at
  // class changes too, and handle each failed reply once.
  new MutationObserver(function () {
    transcript.querySelectorAll(".message.failed[data-restore]:not([data-restored])").forEach(function (failed) {
      failed.dataset.restored = "1";
      if (!box.value.trim()) box.value = failed.dataset.restore;
    });
    const articles = transcript.querySelectorAll(".message");
    articles.forEach(function (article, index) {
      if (index < articles.length - 2) {
        article.querySelectorAll("[data-regenerate], [data-edit-message]").forEach((b) => b.remove());
      }
    });
    scrollToEnd();
  }).observe(transcript, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });

  document.body.addEventListener("htmx:sseMessage", function () {
    if (transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 120) scrollToEnd();
  });

  // Edit the last message in place, then resend it with the current parameters.
  transcript.addEventListener("click", function (event) {
    const button = event.target.closest("[data-edit-message]");
    if (!button) return;
    const article = button.closest(".message");
    const body = article.querySelector(".body");
    const editor = document.createElement("div");
    editor.className = "editor";
    const area = document.createElement("textarea");
    area.name = "message"; area.rows = 3; area.value = body.textContent;
    const save = document.createElement("button");
    save.type = "button"; save.className = "primary"; save.textContent = "Save and resend";
    save.setAttribute("hx-post", button.dataset.editUrl);
    save.setAttribute("hx-include", "#params, closest .editor");
    const cancel = document.createElement("button");
    cancel.type = "button"; cancel.textContent = "Cancel";
    cancel.addEventListener("click", function () { editor.replaceWith(body); button.hidden = false; });
    editor.append(area, save, cancel);
    body.replaceWith(editor);
    button.hidden = true;
    htmx.process(editor);
    area.focus();
  });

  // The "View code" dialog: tabs and copy.
  const dialog = document.getElementById("code-dialog");
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "code-dialog-body" && !dialog.open) dialog.showModal();
  });
  dialog.addEventListener("click", function (event) {
    const tab = event.target.closest("[data-tab]");
    if (tab) {
      dialog.querySelectorAll("[data-tab]").forEach((t) => t.setAttribute("aria-selected", t === tab));
      dialog.querySelectorAll("[data-panel]").forEach((p) => { p.hidden = p.dataset.panel !== tab.dataset.tab; });
    }
    const copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.nextElementSibling.textContent);
      copy.textContent = "Copied";
    }
  });
  scrollToEnd();
})();
