// A reply rendered as it streams: marked for the markdown, DOMPurify with the server's own rules
// (playground.rendering.browser_rules, in the page as JSON), images as links, links opened apart.
(function () {
  "use strict";
  const rules = JSON.parse(document.getElementById("markdown-rules").textContent);
  const perTag = Object.fromEntries(Object.entries(rules.attributes).map(([tag, names]) => [tag, new Set(names)]));
  const generic = new Set(rules.generic);
  const schemes = new RegExp("^(?:(?:" + rules.schemes.join("|") + "):|[^a-z]|[a-z+.-]+(?:[^a-z+.:-]|$))", "i");
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" })[c]);

  marked.use({
    gfm: true, breaks: true,  // the server's nl2br and tables
    renderer: {
      image({ href, text }) { return `<a href="${escapeHtml(href || "")}">🖼 ${escapeHtml(text || "image")}</a>`; },
    },
  });
  DOMPurify.addHook("uponSanitizeAttribute", function (node, data) {
    const tag = node.nodeName.toLowerCase();
    data.keepAttr = generic.has(data.attrName) || (perTag[tag] ? perTag[tag].has(data.attrName) : false);
  });
  DOMPurify.addHook("afterSanitizeAttributes", function (node) {
    if (node.nodeName === "A") { node.setAttribute("target", "_blank"); node.setAttribute("rel", rules.rel); }
  });
  const allTags = rules.tags.concat([]);
  const allAttributes = Array.from(new Set([...rules.generic, ...Object.values(rules.attributes).flat(), "target", "rel"]));
  window.replyMarkdown = function (text) {
    return DOMPurify.sanitize(marked.parse(text), {
      ALLOWED_TAGS: allTags, ALLOWED_ATTR: allAttributes, ALLOWED_URI_REGEXP: schemes,
    });
  };
})();
