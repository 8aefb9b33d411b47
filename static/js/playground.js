// Playground behaviour that the server cannot do: per-model ranges, the composer, the code dialog.
(function () {
  "use strict";
  const specs = JSON.parse(document.getElementById("model-specs").textContent);
  const form = document.getElementById("turn-form");
  const box = document.getElementById("id_message");
  const modelSelect = document.getElementById("id_model");
  const transcript = document.getElementById("transcript");
  // The server checks every field and says what is wrong beside it, in its own words: the
  // browser's bubbles cannot point at a field in a closed drawer (a send would do nothing).
  form.noValidate = true;

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
    ["temperature", "top_p"].forEach(sayWhatIsSent);  // the range it is checked against changed
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

  // A value the SDKs would change is said next to its control (bigmodel/params.py sdk_changes);
  // a value outside the model's range is refused, not sent, so it gets no such note.
  function sayWhatIsSent(name) {
    const input = form.elements[name];
    const note = document.querySelector(`[data-sent-as="${name}"]`);
    const value = input.value.trim() === "" || !input.validity.valid ? NaN : Number(input.value);
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
    showFieldError("image", "");  // what was said about the images before no longer holds
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

  // The model's limits on images, checked before anything is uploaded (the server checks them
  // again, and what only it knows: the images earlier in the conversation). Its words.
  function megabytes(size) { return (size / 1048576).toFixed(1).replace(/\.0$/, "") + " MB"; }
  function imageProblem() {
    const spec = specs[modelSelect.value];
    const files = Array.from(imageInput.files);
    if (!files.length || !spec || !spec.images || !spec.images.base64) return "";
    const limits = spec.images;
    const total = files.length + linksBox.value.split("\n").filter((line) => line.trim()).length;
    if (total > limits.max_count) {
      const allowed = limits.max_count === 1 ? "one image" : `up to ${limits.max_count} images`;
      return `${spec.label} takes ${allowed} per request (this one would carry ${total}).`;
    }
    const big = files.find((file) => file.size > limits.max_bytes);
    return big ? `“${big.name}” is ${megabytes(big.size)}; images may be at most ${megabytes(limits.max_bytes)}.` : "";
  }

  // "View code" names the attached files in its snippet.
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.path.endsWith("/code/")) {
      event.detail.parameters.delete("image");
      attached.forEach((file) => event.detail.parameters.append("image_name", file.name));
    }
  });
  applyAttach();

  // Why a turn was refused: each field's reason beside it (marked aria-invalid), the turn's own in
  // the box above the composer. The server renders both (playground/_refusal.html); the page's
  // own checks write into the same places. The first field at fault takes the focus, its drawer
  // opened on a narrow screen.
  const errorBox = document.getElementById("form-errors");
  const playground = document.getElementById("playground");
  const settingsAreADrawer = window.matchMedia("(max-width: 1100px)");
  const errorSlots = () => Array.from(form.querySelectorAll("[data-error-for]"));
  function showFieldError(name, text) {
    const slot = document.getElementById("error-" + name);
    slot.textContent = text;
    slot.hidden = !text;
    markField(slot);
  }
  function markField(slot) {
    const control = form.elements.namedItem(slot.dataset.errorFor);
    if (!control || !control.setAttribute) return;
    if (slot.hidden) control.removeAttribute("aria-invalid");
    else control.setAttribute("aria-invalid", "true");
  }
  function clearProblems() {
    errorSlots().forEach((slot) => showFieldError(slot.dataset.errorFor, ""));
    errorBox.replaceChildren();
  }
  // A reason beside a field the page hides for this model (image links, for one that reads no
  // images) would be unseen: it goes in the box, with the field's name.
  function unseenToBox(slots) {
    const unseen = slots.filter((slot) => slot.closest("[hidden]"));
    if (!unseen.length) return;
    let alert = errorBox.querySelector(".error");
    if (!alert) {
      alert = document.createElement("div");
      alert.className = "error"; alert.setAttribute("role", "alert");
      errorBox.append(alert);
    }
    unseen.forEach(function (slot) {
      const line = document.createElement("p");
      line.textContent = `${slot.dataset.errorFor}: ${slot.textContent}`;
      alert.append(line);
    });
  }
  function showProblems() {
    const slots = errorSlots().filter((slot) => !slot.hidden);
    slots.forEach(markField);
    unseenToBox(slots);
    const first = slots.find((slot) => !slot.closest("[hidden]"));
    if (!first) return;
    if (first.closest("#params") && settingsAreADrawer.matches) playground.classList.add("show-params");
    const control = form.elements.namedItem(first.dataset.errorFor);
    if (control && control.focus) control.focus({ preventScroll: true });
    first.scrollIntoView({ block: "nearest" });
  }
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "form-errors") showProblems();
  });
  // Putting a field right takes its mark away.
  ["input", "change"].forEach(function (type) {
    form.addEventListener(type, function (event) {
      const slot = event.target.name && document.getElementById("error-" + event.target.name);
      if (slot && !slot.hidden) showFieldError(event.target.name, "");
    });
  });

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
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-drawer]");
    if (opener) { playground.classList.toggle("show-" + opener.dataset.drawer); return; }
    if (event.target.closest("[data-drawer-close]")) playground.classList.remove("show-side", "show-params");
  });

  // A turn listens for its reply before its POST is answered: the page names the reply and, once
  // the POST is on its way (nothing of the page's own refused it), puts up its placeholder (whose
  // EventSource opens at once); the POST saves the reply under that name and answers with the
  // user's message, placed in front. A refused or failed POST takes the placeholder away.
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
    clearProblems();
    const problem = imageProblem();
    if (problem) {
      event.preventDefault();  // not sent: nothing uploaded, nothing to take away
      showFieldError("image", problem);
      showProblems();
      return;
    }
    event.detail.parameters.set("reply", newReplyId());
  });
  document.body.addEventListener("htmx:beforeSend", function (event) {
    if (event.detail.elt !== form) return;
    const id = event.detail.requestConfig.formData.get("reply");
    const holder = document.createElement("div");
    holder.innerHTML = replyTemplate.innerHTML.replaceAll(NIL, id);
    pending = holder.firstElementChild;
    pending.dataset.unsent = "1";  // until its turn is accepted: the last turn keeps its buttons
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

  // A turn went through (fired on receipt, before the swap): its reasons for an earlier refusal
  // go, and a turn sent from the composer empties it (an edited message leaves what is typed
  // there). Its reply may have failed already (it streams while the POST is on its way): then it
  // gives its message back now.
  document.body.addEventListener("turn-sent", function (event) {
    clearProblems();
    if (event.target === form) {
      box.value = "";
      linksBox.value = "";
      attached = [];
      showAttachments();
      if (pending) delete pending.dataset.unsent;
      pending = null;
    }
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
    const articles = transcript.querySelectorAll(".message:not([data-unsent])");
    articles.forEach(function (article, index) {
      if (index < articles.length - 2) {
        article.querySelectorAll("[data-regenerate], [data-edit-message], [data-tool-results]").forEach((b) => b.remove());
      }
    });
    follow();
  }).observe(transcript, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });

  // A reply renders as markdown while it streams, sanitised as the server sanitises it, so the
  // final swap to the server's rendering changes nothing but the code's colours. Its citations
  // link to the pages its search read, which come first (a `sources` event). Deltas are the text
  // as it arrived: the thinking is written as text, the answer through the markdown (or as text).
  const live = new Map();  // live body element → text so far
  const liveSources = new Map();  // live body element → the pages its search read
  function render(body) {
    body.dataset.pending = "";
    body.innerHTML = window.replyMarkdown(live.get(body) || "", liveSources.get(body));
    follow();
  }
  function forget(map) { map.forEach((_, body) => { if (!body.isConnected) map.delete(body); }); }
  document.body.addEventListener("htmx:sseBeforeMessage", function (event) {
    const target = event.target;
    const type = event.detail.type;
    const data = event.detail.data;
    if (type === "done") { forget(live); forget(liveSources); return; }
    if (type === "thinking") { target.append(data); return; }
    if (type !== "delta" && type !== "reset" && type !== "sources") return;
    const body = document.getElementById(target.getAttribute("hx-target") ? target.getAttribute("hx-target").slice(1) : target.id);
    if (!body || !body.classList.contains("body")) return;  // the thinking's reset: htmx empties it
    event.preventDefault();
    if (type === "sources") liveSources.set(body, JSON.parse(data));
    else if (type === "reset") { live.set(body, ""); liveSources.delete(body); }
    else live.set(body, (live.get(body) || "") + data);
    if (!window.replyMarkdown) { body.textContent = live.get(body) || ""; return; }
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
