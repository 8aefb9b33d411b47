from playground.rendering import render_markdown


def test_markdown_is_rendered_and_code_highlighted():
    html = render_markdown("**bold** and a list:\n\n- one\n- two\n\n```python\ndef f():\n    return 1\n```")
    assert "<strong>bold</strong>" in html and "<li>one</li>" in html
    assert 'class="highlight"' in html and '<span class="k">def</span>' in html


def test_html_in_a_reply_is_neutralised():
    html = render_markdown('<script>alert(1)</script><img src=x onerror="alert(2)"> [x](javascript:alert(3))')
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
