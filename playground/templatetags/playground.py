from django import template
from django.utils.html import format_html_join

from playground.models import Message
from playground.rendering import render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return render_markdown(text)


@register.filter
def user_text_before(message: Message) -> str:
    """The user message a failed reply answered, so the page can put it back in the box."""
    previous = message.conversation.messages.filter(id__lt=message.id, role=Message.Role.USER).last()
    return previous.content if previous else ""


@register.simple_tag
def reply_stats(message: Message):
    """Tokens, timings and the parameters sent, as one line of "·"-separated parts."""
    parts = []
    if message.prompt_tokens is not None:
        parts.append(("prompt tokens", f"{message.prompt_tokens} in"))
        parts.append(("completion tokens", f"{message.completion_tokens} out"))
        if not message.usage_exact:
            parts.append(("The upstream gave no usage for this reply; the app counted it", "estimated"))
    if message.ttft_ms is not None:
        parts.append(("time to first token", f"first token {message.ttft_ms} ms"))
    if message.latency_ms is not None:
        parts.append(("total time", f"{message.latency_ms} ms"))
    sent = " ".join(f"{key}={value}" for key, value in message.params.items())
    if sent:
        parts.append(("parameters sent", sent))
    return format_html_join(" · ", '<span title="{}">{}</span>', parts)
