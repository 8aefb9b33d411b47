from django import template

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
