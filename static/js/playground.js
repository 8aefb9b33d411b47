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
    const abilities = [["thinking", "thinks"], ["tools", "tools"], ["web_search", "web search"],
      ["json_output", "JSON output"], ["cached_input", "cached input"], ["images", "images"], ["video", "video"]]
      .filter(([key]) => spec[key]).map(([, label]) => label);
    if (abilities.length) notes.push(`Can: ${abilities.join(", ")}.`);
    notes.push(`Price: ${spec.price}${spec.price_confirmed ? "" : " (unconfirmed: not read on BigModel's own price list)"}.`);
    if (spec.retirement) notes.push(`${spec.retirement[0].toUpperCase()}${spec.retirement.slice(1)}.`);
    hint.textContent = notes.join(" ");
    hint.classList.toggle("warn", !!spec.deprecated);
    showAbilities(spec);
  }

  // Controls for what only some models do; hidden (and cleared, so nothing is sent) for others.
  const THINKING = {
    forced: "on by default; the model thinks before every answer",
    auto: "on by default; the model decides when to think",
    always: "this model always thinks",
  };
  function showAbilities(spec) {
    document.querySelectorAll("[data-needs]").forEach(function (control) {
      const offered = !!spec[control.dataset.needs];
      control.hidden = !offered;
      // Typed text is kept for a model that takes it again, but not sent to one that does not.
      control.querySelectorAll("textarea").forEach((area) => { area.disabled = !offered; });
      if (offered) return;
      control.querySelectorAll("select").forEach((select) => { select.selectedIndex = 0; });
      control.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = false; });
    });
    const thinking = form.elements.thinking;
    thinking.querySelector('option[value="disabled"]').disabled = spec.thinking === "always";
    if (spec.thinking === "always" && thinking.value === "disabled") thinking.value = "";
    document.getElementById("thinking-range").textContent = THINKING[spec.thinking] || "";
    // reasoning_effort: only the values this model takes.
    const efforts = spec.reasoning_efforts || [];
    const effort = form.elements.reasoning_effort;
    document.getElementById("effort-field").hidden = !efforts.length;
    effort.querySelectorAll("option").forEach(function (option) {
      option.hidden = option.disabled = option.value !== "" && !efforts.includes(option.value);
    });
    if (effort.selectedOptions[0] && effort.selectedOptions[0].disabled) effort.value = "";
    document.getElementById("effort-range").textContent = efforts.length
      ? `${efforts.join(", ")}; default ${spec.default_reasoning_effort}` : "";
  }
  modelSelect.addEventListener("change", applyModel);
  applyModel();

  // A value the SDKs would change is said next to its control (bigmodel/params.py sdk_changes).
  function sayWhatIsSent(name) {
    const input = form.elements[name];
    const note = document.querySelector(`[data-sent-as="${name}"]`);
    const value = input.value.trim() === "" ? NaN : Number(input.value);
    let text = "";
    if (value >= 1) text = `Sent as 0.99, as the official SDKs do.`;
    else if (value <= 0) text = name === "temperature"
      ? "Sent as 0.01 with do_sample=false (greedy), as the official SDKs do."
      : "Sent as 0.01, as the official SDKs do.";
    note.textContent = text;
    note.hidden = !text;
  }
  ["temperature", "top_p"].forEach(function (name) {
    form.elements[name].addEventListener("input", () => sayWhatIsSent(name));
    sayWhatIsSent(name);
  });

  const EXAMPLE_TOOLS = [{
    type: "function",
    function: {
      name: "get_weather",
      description: "The current weather in a city.",
      parameters: {
        type: "object",
        properties: { city: { type: "string", description: "The city's name, e.g. Beijing" } },
        required: ["city"],
      },
    },
  }];
  document.getElementById("tools-example").addEventListener("click", function () {
    const tools = form.elements.tools;
    if (!tools.value.trim()) tools.value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
    tools.focus();
  });

  // Images for the GLM-4V models: pick, drop or paste; previews with a remove button. The files
  // live in the form's `image` input, so the form sends them as they are.
  const imageInput = document.getElementById("id_image");
  const attach = document.getElementById("attach");
  const attachHint = document.getElementById("attach-hint");
  const previews = document.getElementById("previews");
  let attached = [];
  let currentModel = modelSelect.value;

  function takesUploads(spec) { return !!(spec && spec.images && spec.images.base64); }

  function showAttachments() {
    const files = new DataTransfer();
    attached.forEach((file) => files.items.add(file));
    imageInput.files = files.files;
    previews.replaceChildren(...attached.map(function (file, index) {
      const item = document.createElement("li");
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file); img.alt = file.name;
      img.onload = () => URL.revokeObjectURL(img.src);
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "remove"; remove.textContent = "×";
      remove.title = "Remove " + file.name; remove.setAttribute("aria-label", "Remove " + file.name);
      remove.addEventListener("click", function () { attached.splice(index, 1); showAttachments(); });
      item.append(img, remove);
      return item;
    }));
  }

  function addFiles(files) {
    const spec = specs[modelSelect.value];
    if (!takesUploads(spec)) return;
    attached = attached.concat(Array.from(files).filter((file) => file.type.startsWith("image/")));
    showAttachments();
  }

  const links = document.getElementById("links");
  const linksBox = document.getElementById("id_image_urls");
  function applyAttach() {
    const spec = specs[modelSelect.value];
    attach.hidden = !(spec && spec.images);
    links.hidden = !(spec && spec.images);
    if (!spec || !spec.images) return;
    const limits = spec.images;
    imageInput.disabled = !limits.base64;
    attachHint.textContent = limits.base64
      ? `JPEG or PNG, under ${Math.round(limits.max_bytes / 1048576)} MB, up to ${limits.max_side}×${limits.max_side}; ` +
        (limits.max_count === 1 ? "one image per request." : `up to ${limits.max_count} images per request.`)
      : `${spec.label} takes images only as web links: put them below, or choose another GLM-4V model to attach a file.`;
  }

  // Switching to a model that cannot take the attached images says so before dropping them.
  modelSelect.addEventListener("change", function () {
    const spec = specs[modelSelect.value];
    if (attached.length && !takesUploads(spec)) {
      const why = spec && spec.images ? "takes images only as web links" : "does not read images";
      const count = attached.length === 1 ? "the attached image" : `the ${attached.length} attached images`;
      if (!window.confirm(`${spec ? spec.label : modelSelect.value} ${why}. Remove ${count}? (Cancel keeps them and the model.)`)) {
        modelSelect.value = currentModel;
        applyModel();
        return;
      }
      attached = [];
      showAttachments();
    }
    currentModel = modelSelect.value;
    applyAttach();
  });
  imageInput.addEventListener("change", function () {
    const picked = Array.from(imageInput.files);
    imageInput.value = "";
    addFiles(picked);
  });
  box.addEventListener("paste", function (event) {
    const files = event.clipboardData && event.clipboardData.files;
    if (files && files.length && takesUploads(specs[modelSelect.value])) {
      event.preventDefault();
      addFiles(files);
    }
  });
  form.addEventListener("dragover", function (event) {
    if (takesUploads(specs[modelSelect.value])) { event.preventDefault(); form.classList.add("dropping"); }
  });
  form.addEventListener("dragleave", function () { form.classList.remove("dropping"); });
  form.addEventListener("drop", function (event) {
    form.classList.remove("dropping");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    addFiles(event.dataTransfer.files);
  });
  // A failed turn gives its images back too (they are stored: fetch them as files again).
  async function restoreImages(images) {
    const files = await Promise.all(images.map(async function ([url, name]) {
      const response = await fetch(url);
      const blob = await response.blob();
      return new File([blob], name, { type: blob.type });
    }));
    if (files.length && takesUploads(specs[modelSelect.value])) {
      attached = attached.concat(files);
      showAttachments();
    }
  }

  // "View code" names the attached files in its snippet.
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.path.endsWith("/code/")) {
      event.detail.parameters.delete("image");
      attached.forEach((file) => event.detail.parameters.append("image_name", file.name));
    }
  });
  applyAttach();

  // Enter sends, Shift+Enter is a new line.
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim()) htmx.trigger(form, "submit");
    }
  });

  // The transcript follows new content while the reader is at its end; scrolled up, it stays put
  // and offers a way back down.
  const jump = document.getElementById("jump-latest");
  let pinned = true;
  function atEnd() { return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80; }
  function scrollToEnd() { transcript.scrollTop = transcript.scrollHeight; pinned = true; jump.hidden = true; }
  function follow() { if (pinned) scrollToEnd(); else jump.hidden = false; }
  transcript.addEventListener("scroll", function () { pinned = atEnd(); if (pinned) jump.hidden = true; });
  jump.addEventListener("click", scrollToEnd);

  // "Only those billed to <team>" filters the sidebar's list (it is swapped in again on a rename).
  document.addEventListener("change", function (event) {
    const only = event.target.closest("[data-only-team]");
    if (!only) return;
    const list = document.querySelector(".conversations");
    list.querySelectorAll("li").forEach((li) => li.classList.toggle("match", li.dataset.team === only.dataset.onlyTeam));
    list.classList.toggle("only-team-on", only.checked);
  });

  // A rename shows in the tab's title and the chat bar at once.
  document.body.addEventListener("renamed", function (event) {
    document.title = `${event.detail.title} · Playground · GLM Console`;
    document.getElementById("chat-title").textContent = event.detail.title;
  });

  // On a narrow screen the conversations and the settings are drawers.
  const playground = document.getElementById("playground");
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-drawer]");
    if (opener) { playground.classList.toggle("show-" + opener.dataset.drawer); return; }
    if (event.target.closest("[data-drawer-close]")) playground.classList.remove("show-side", "show-params");
  });

  // A turn listens for its reply before its POST is answered: the page names the reply, puts up
  // its placeholder (whose EventSource opens at once) and sends the name; the POST saves the
  // reply under it and answers with the user's message, placed in front. A refused or failed
  // POST takes the placeholder away.
  const NIL = "00000000-0000-0000-0000-000000000000";
  const replyTemplate = document.getElementById("reply-template");
  let pending = null;
  function newReplyId() {  // crypto.randomUUID needs a secure context; this does not
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40; bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt !== form) return;
    const id = newReplyId();
    event.detail.parameters.set("reply", id);
    const holder = document.createElement("div");
    holder.innerHTML = replyTemplate.innerHTML.replaceAll(NIL, id);
    pending = holder.firstElementChild;
    pending.querySelector(".model").textContent = modelSelect.value;
    transcript.append(pending);
    htmx.process(pending);
    follow();
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt !== form || !pending) return;
    // Refused or failed (an accepted turn's turn-sent let go of it): a "delete" swap also
    // closes the placeholder's EventSource.
    htmx.swap(pending, "", { swapStyle: "delete" });
    pending = null;
  });

  // A turn went through (fired on receipt, before the swap): empty the box. Its reply may have
  // failed already (it streams while the POST is on its way): then it gives its message back now.
  document.body.addEventListener("turn-sent", function () {
    box.value = "";
    linksBox.value = "";
    attached = [];
    showAttachments();
    document.getElementById("form-errors").innerHTML = "";
    pending = null;
    giveBackFailed();
  });

  // New messages in the transcript: a failed reply gives its message back to the box, so nothing
  // typed is lost; only the last turn keeps its Regenerate and Edit buttons. (Watched in the DOM:
  // a reply arrives by an SSE swap, which raises no event on the page.)
  // Failures already on the page when it loads are old news: leave the box alone for them.
  transcript.querySelectorAll(".message.failed").forEach((failed) => { failed.dataset.restored = "1"; });
  // htmx settles a swapped element's new attributes a moment after inserting it, so look at
  // class changes too, and handle each failed reply once.
  // While a turn's POST is on its way the box still holds its message: wait for the answer.
  function giveBackFailed() {
    if (pending) return;
    transcript.querySelectorAll(".message.failed[data-restore]:not([data-restored])").forEach(function (failed) {
      failed.dataset.restored = "1";
      if (!box.value.trim()) box.value = failed.dataset.restore;
      if (!linksBox.value.trim()) linksBox.value = failed.dataset.restoreLinks || "";
      if (!attached.length) restoreImages(JSON.parse(failed.dataset.restoreImages || "[]"));
    });
  }
  // The thinking's length while it streams, estimated as the server estimates it (about a token
  // per CJK character, one per four others); the saved reply shows the upstream's own count.
  const CJK = /[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/g;
  function estimateTokens(text) {
    const cjk = (text.match(CJK) || []).length;
    return cjk + Math.ceil((text.length - cjk) / 4);
  }
  const counted = new WeakMap();  // live thinking block → {length, tokens} counted so far
  function countThinking() {
    // By the live block's own id: while htmx settles the saved reply it wears the live one's class.
    transcript.querySelectorAll('.message.live .thinking-body[id^="thought-"]').forEach(function (body) {
      const summary = body.parentElement.querySelector("summary");
      const text = body.textContent;
      let seen = counted.get(body);
      if (!seen || text.length < seen.length) seen = { length: 0, tokens: 0 };  // a reset
      // Only what arrived since the last count (thinking only grows): cheap on long thinking.
      seen = { length: text.length, tokens: seen.tokens + estimateTokens(text.slice(seen.length)) };
      counted.set(body, seen);
      const label = seen.tokens ? `Thinking… ~${seen.tokens} tokens` : "Thinking…";
      if (summary.textContent !== label) summary.textContent = label;  // unchanged: no new mutation
    });
  }
  new MutationObserver(function () {
    countThinking();
    giveBackFailed();
    const articles = transcript.querySelectorAll(".message");
    articles.forEach(function (article, index) {
      if (index < articles.length - 2) {
        article.querySelectorAll("[data-regenerate], [data-edit-message], [data-tool-results]").forEach((b) => b.remove());
      }
    });
    follow();
  }).observe(transcript, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });

  // A reply renders as markdown while it streams, sanitised as the server sanitises it, so the
  // final swap to the server's rendering changes nothing but the code's colours.
  const live = new Map();  // live body element → text so far
  function unescapeHtml(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'")
      .replace(/&amp;/g, "&");
  }
  function render(body) {
    body.dataset.pending = "";
    body.innerHTML = window.replyMarkdown(live.get(body) || "");
    follow();
  }
  document.body.addEventListener("htmx:sseBeforeMessage", function (event) {
    const target = event.target;
    const type = event.detail.type;
    if (type === "done") { live.forEach((_, body) => { if (!body.isConnected) live.delete(body); }); return; }
    if (type !== "delta" && type !== "reset") return;
    const body = document.getElementById(target.getAttribute("hx-target") ? target.getAttribute("hx-target").slice(1) : target.id);
    // No renderer, or the thinking block (plain text): the swap goes ahead as it is.
    if (!body || !window.replyMarkdown || !body.classList.contains("body")) return;
    event.preventDefault();
    live.set(body, type === "reset" ? "" : (live.get(body) || "") + unescapeHtml(event.detail.data));
    body.classList.remove("plain"); body.classList.add("markdown");
    if (!body.dataset.pending) { body.dataset.pending = "1"; requestAnimationFrame(() => render(body)); }
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
    const target = event.detail.target;  // a swap by the SSE extension has none
    if (target && target.id === "code-dialog-body" && !dialog.open) dialog.showModal();
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
