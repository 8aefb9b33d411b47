// The image page: sizes offered per model, the prompt's length against the model's limit.
(function () {
  "use strict";
  const specs = JSON.parse(document.getElementById("image-specs").textContent);
  const model = document.getElementById("id_image_model");
  const size = document.getElementById("id_size");
  const sizeField = document.getElementById("size-field");
  const sizeHint = document.getElementById("size-hint");
  const quality = document.getElementById("id_quality");
  const qualityField = document.getElementById("quality-field");
  const prompt = document.getElementById("id_prompt");
  const count = document.getElementById("prompt-count");

  function applyModel() {
    const spec = specs[model.value];
    if (!spec) return;
    const chosen = size.value;
    size.replaceChildren(...spec.sizes.map(function (option) {
      const item = document.createElement("option");
      item.value = option; item.textContent = option.replace("x", " × ") + (option === spec.default_size ? " (default)" : "");
      item.selected = option === (spec.sizes.includes(chosen) ? chosen : spec.default_size);
      return item;
    }));
    sizeField.hidden = spec.sizes.length === 0;
    size.disabled = spec.sizes.length === 0;
    sizeHint.textContent = spec.sizes.length ? "" : `${spec.label} makes ${spec.default_size.replace("x", " × ")} images; it takes no size.`;
    // quality: hd is slower (about 20 s against 5-10 s for standard, BigModel says) and finer.
    quality.replaceChildren(...spec.qualities.map(function (option) {
      const item = document.createElement("option");
      item.value = option; item.textContent = option + (option === spec.default_quality ? " (default)" : "");
      item.selected = option === spec.default_quality;
      return item;
    }));
    qualityField.hidden = spec.qualities.length === 0;
    quality.disabled = spec.qualities.length === 0;
    countPrompt();
  }

  function countPrompt() {
    const limit = (specs[model.value] || {}).prompt_max_chars;
    count.textContent = limit ? `${prompt.value.length} / ${limit} characters` : "";
    count.classList.toggle("warn", !!limit && prompt.value.length > limit);
  }

  model.addEventListener("change", applyModel);
  prompt.addEventListener("input", countPrompt);
  document.body.addEventListener("image-queued", function () {
    document.getElementById("image-errors").innerHTML = "";
    const empty = document.getElementById("empty-gallery");
    if (empty) empty.remove();
  });
  applyModel();
})();
