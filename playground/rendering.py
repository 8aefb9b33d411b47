"""Markdown to safe HTML for replies: fenced code highlighted by Pygments, everything sanitised by
nh3.

A reply is text a model wrote, and a prompt injection can steer what it writes: so it may not make
the browser fetch anything. Markdown images become links (nothing loads until the user follows one),
raw <img> tags are dropped, and links open in a new tab with neither opener nor referrer. A web
search's citations (``[ref_1]``) link to the pages the search read, numbered as the reply's list
of sources numbers them; static/js/markdown.js does the same while a reply streams."""

import re
import xml.etree.ElementTree as etree
from collections.abc import Mapping, Sequence

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor

EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "nl2br"]
EXTENSION_CONFIGS = {"codehilite": {"guess_lang": False, "css_class": "highlight"}}
ALLOWED_TAGS = (nh3.ALLOWED_TAGS - {"img"}) | {
    "span",
    "div",
    "pre",
    "code",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {
    **nh3.ALLOWED_ATTRIBUTES,
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
}
GENERIC_ATTRIBUTES = {"lang", "title"}  # nh3's, on every allowed tag
LINK_REL = "noopener noreferrer nofollow"
# A web search's citation as BigModel writes it in a reply: the ``refer`` of one of its results.
CITATION = r"\[(ref_\d+)\]"


def browser_rules() -> dict:
    """The same rules for the browser, which renders a reply while it streams
    (static/js/markdown.js)."""
    return {
        "tags": sorted(ALLOWED_TAGS),
        "generic": sorted(GENERIC_ATTRIBUTES),
        "rel": LINK_REL,
        "attributes": {
            tag: sorted(names) for tag, names in ALLOWED_ATTRIBUTES.items() if tag in ALLOWED_TAGS
        },
        "schemes": sorted(nh3.ALLOWED_URL_SCHEMES),
        "citation": CITATION,
    }


def image_link_text(alt: str) -> str:
    """What a markdown image's link says: a word, not a glyph a font may lack."""
    return f"Image: {alt}" if alt else "Image"


class _ImagesAsLinks(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        for image in root.iter("img"):
            src, alt, tail = image.get("src", ""), image.get("alt") or "", image.tail
            image.clear()  # attributes and children go; the text after the image stays
            image.tag, image.text, image.tail = "a", image_link_text(alt), tail
            image.set("href", src)


class ImagesAsLinks(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 0)


class _Citations(InlineProcessor):
    """``[ref_N]`` of a source the reply has, as ``<sup><a href title>[n]</a></sup>`` (n: its place
    in the list of sources); any other stays as it was written. Code is left alone."""

    def __init__(self, sources: Sequence[Mapping]):
        super().__init__(CITATION)
        self.places = {
            source.get("refer"): (number, source) for number, source in enumerate(sources, 1)
        }

    def handleMatch(  # type: ignore[override]  # the stubs' InlineProcessor differs likewise
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | str | None, int | None, int | None]:
        found = self.places.get(m.group(1))
        if found is None:
            return None, None, None
        number, source = found
        sup = etree.Element("sup")
        link = etree.SubElement(sup, "a", {"href": source["link"], "title": source["title"]})
        link.text = f"[{number}]"
        return sup, m.start(0), m.end(0)


class Citations(markdown.Extension):
    def __init__(self, sources: Sequence[Mapping]):
        super().__init__()
        self.sources = sources

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Before reference links ("[ref_1]" would be one, undefined), after code spans.
        md.inlinePatterns.register(_Citations(self.sources), "citations", 175)


def render_markdown(text: str, sources: Sequence[Mapping] = ()) -> SafeString:
    """``sources``: the pages a web search read (each with its ``refer``, title and link)."""
    extensions: list[str | markdown.Extension] = [*EXTENSIONS, ImagesAsLinks(), Citations(sources)]
    html = markdown.markdown(text, extensions=extensions, extension_configs=EXTENSION_CONFIGS)
    return mark_safe(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            link_rel=LINK_REL,
            set_tag_attribute_values={"a": {"target": "_blank"}},
        )
    )
