"""Markdown to safe HTML for replies: fenced code highlighted by Pygments, everything sanitised by nh3."""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "nl2br"]
EXTENSION_CONFIGS = {"codehilite": {"guess_lang": False, "css_class": "highlight"}}
ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"span", "div", "pre", "code", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "span": {"class"}, "div": {"class"}, "code": {"class"},
                      "pre": {"class"}}


def render_markdown(text: str) -> SafeString:
    html = markdown.markdown(text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
    return mark_safe(nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                               link_rel="noopener noreferrer nofollow"))
