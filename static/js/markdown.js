// A reply rendered as it streams: marked for the markdown, DOMPurify with the server's own rules
// (playground.rendering.browser_rules, in the page as JSON), images as links, links opened apart,
// a web search's citations ([ref_1]) linked to the pages it read, as the server links them.
(function () {
  "use strict";
  const rules = JSON.parse(document.getElementById("markdown-rules").textContent);
  const perTag = Object.fromEntries(Object.entries(rules.attributes).map(([tag, names]) => [tag, new Set(names)]));
  const generic = new Set(rules.generic);
  const schemes = new RegExp("^(?:(?:" + rules.schemes.join("|") + "):|[^a-z]|[a-z+.-]+(?:[^a-z+.:-]|$))", "i");
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" })[c]);

  // The sources of the reply being rendered: refer ("ref_1") → [its number in the list, the page].
  let citing = new Map();
  const citationAnywhere = new RegExp(rules.citation);
  const citationHere = new RegExp("^" + rules.citation);
  const citation = {
    name: "citation", level: "inline",
    start(src) { const at = src.search(citationAnywhere); return at < 0 ? undefined : at; },
    tokenizer(src) {
      const found = citationHere.exec(src);
      if (found && citing.has(found[1])) return { type: "citation", raw: found[0], refer: found[1] };
      return undefined;  // not a source of this reply: the text stays as written
    },
    renderer(token) {
      const [number, source] = citing.get(token.refer);
      return `<sup><a href="${escapeHtml(source.link)}" title="${escapeHtml(source.title)}">[${number}]</a></sup>`;
    },
  };

  marked.use({
    gfm: true, breaks: true,  // the server's nl2br and tables
    extensions: [citation],
    renderer: {
      // playground.rendering.image_link_text: a word, not a glyph a font may lack.
      image({ href, text }) { return `<a href="${escapeHtml(href || "")}">${escapeHtml(text ? "Image: " + text : "Image")}</a>`; },
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
  // sources: the pages the reply's search read (each with its refer, title and link), if any.
  window.replyMarkdown = function (text, sources) {
    citing = new Map((sources || []).map((source, index) => [source.refer, [index + 1, source]]));
    return DOMPurify.sanitize(marked.parse(text), {
      ALLOWED_TAGS: allTags, ALLOWED_ATTR: allAttributes, ALLOWED_URI_REGEXP: schemes,
    });
  };
})();
