"""Markdown to safe HTML for replies: fenced code highlighted by Pygments, everything sanitised by
nh3.

A reply is text a model wrote, and a prompt injection can steer what it writes: so it may not make
the browser fetch anything. Markdown images become links (nothing loads until the user follows one),
raw <img> tags are dropped, and links open in a new tab with neither opener nor referrer."""

import xml.etree.ElementTree as etree

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
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
    }


class _ImagesAsLinks(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        for image in root.iter("img"):
            src, alt, tail = image.get("src", ""), image.get("alt") or "image", image.tail
            image.clear()  # attributes and children go; the text after the image stays
            image.tag, image.text, image.tail = "a", f"🖼 {alt}", tail
            image.set("href", src)


class ImagesAsLinks(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 0)


def render_markdown(text: str) -> SafeString:
    html = markdown.markdown(
        text, extensions=[*EXTENSIONS, ImagesAsLinks()], extension_configs=EXTENSION_CONFIGS
    )
    return mark_safe(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            link_rel=LINK_REL,
            set_tag_attribute_values={"a": {"target": "_blank"}},
        )
    )
