import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from django import forms, template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts import money
from accounts.models import UsageRecord
from playground.models import ImageGeneration, Message
from playground.rendering import render_markdown
from playground.selectors import usage_of

register = template.Library()


@register.filter
def markdown(text: str, sources: Sequence[Mapping] = ()) -> SafeString:
    """A reply as safe HTML, its citations linked to ``sources`` (the pages its search read)."""
    return render_markdown(text, sources or ())


@register.filter
def turn_errors(form: forms.BaseForm) -> list[str]:
    """The reasons a turn was refused that belong to no field the page shows (each of those is
    said beside its field): the turn's own, and those of its hidden fields, named."""
    hidden = [f"{field.name}: {error}" for field in form.hidden_fields() for error in field.errors]
    return [*form.non_field_errors(), *hidden]


def _user_message_before(message: Message) -> Message | None:
    """Looked up once per message (the text and the images both need it)."""
    if not hasattr(message, "user_message_before"):
        message.user_message_before = (
            message.conversation.messages.filter(id__lt=message.id, role=Message.Role.USER)
            .prefetch_related("attachments")
            .last()
        )
    return message.user_message_before


@register.filter
def user_text_before(message: Message) -> str:
    """The user message a failed reply answered, so the page can put it back in the box."""
    previous = _user_message_before(message)
    return previous.content if previous else ""


@register.filter
def user_images_before(message: Message) -> str:
    """Its images too, as JSON [[url, name], …], so the page can attach them again."""
    previous = _user_message_before(message)
    images = previous.attachments.all() if previous else []
    return json.dumps([[image.get_absolute_url(), image.name] for image in images])


@register.filter
def user_links_before(message: Message) -> str:
    """And its image links, one per line, to put back in the links box."""
    previous = _user_message_before(message)
    return "\n".join(previous.image_urls) if previous else ""


def cost_text(record: UsageRecord | None) -> tuple[str, str] | None:
    """("how it was paid", "¥0.000123"), ("…", "cost pending…"), or None when nothing was billed."""
    if record is None:
        return None
    if record.status != UsageRecord.Status.SETTLED:
        return "Being priced and settled; it shows here in a moment", "cost pending…"
    if record.price_id is None and not record.cost_nano:
        return "This model has no price yet", "no price"
    paid = (
        "paid from packs"
        if not record.cash_nano
        else "paid from cash"
        if not record.packs_nano
        else f"packs {money.yuan(record.packs_nano)} + cash {money.yuan(record.cash_nano)}"
    )
    return (
        f"Cost at the prices of {record.created_at:%Y-%m-%d}, {paid}",
        f"{money.yuan(record.cost_nano)}",
    )


@register.simple_tag
def reply_stats(message: Message) -> SafeString:
    """Tokens, cost, timings and the parameters sent, as one line of "·"-separated parts."""
    parts = []
    if message.prompt_tokens is not None:
        cached = f" ({message.cached_tokens} cached)" if message.cached_tokens else ""
        thinking = f" ({message.reasoning_tokens} thinking)" if message.reasoning_tokens else ""
        parts.append(("prompt tokens, of which cache hits", f"{message.prompt_tokens} in{cached}"))
        parts.append(
            ("completion tokens, thinking included", f"{message.completion_tokens} out{thinking}")
        )
        if not message.usage_exact:
            parts.append(
                ("The upstream gave no usage for this reply; the app counted it", "estimated")
            )
        record = usage_of(message)
        cost = cost_text(record)
        if cost:
            parts.append(cost)
        if record is not None and record.searches:
            parts.append(_search_part(record))
    if message.ttft_ms is not None:
        parts.append(("time to first token", f"first token {message.ttft_ms} ms"))
    if message.latency_ms is not None:
        parts.append(("total time", f"{message.latency_ms} ms"))
    sent = " ".join(f"{key}={_sent(key, value)}" for key, value in message.params.items())
    if sent:
        parts.append(("parameters sent", sent))
    return format_html_join(" · ", '<span title="{}">{}</span>', parts)


def _search_part(record: UsageRecord) -> tuple[str, str]:
    """The web search's own fee, inside the cost: BigModel bills each call that searched."""
    fee = (
        f" {money.yuan(record.search_nano)}" if record.status == UsageRecord.Status.SETTLED else ""
    )
    return (
        "The web_search tool searched once; its engine's fee is part of the cost",
        f"1 search ({record.search_engine}){fee}",
    )


def _sent(key: str, value: object) -> str:
    """A parameter as it went upstream: {"type": "enabled"} reads as enabled (with its other
    fields after it: "enabled, clear_thinking false"), tools by name."""
    if isinstance(value, dict) and "type" in value:
        rest = [f"{name} {_word(item)}" for name, item in value.items() if name != "type"]
        return ", ".join([str(value["type"]), *rest])
    if key == "tools" and isinstance(value, list):
        return ",".join(_tool_name(tool) for tool in value)
    return str(value)


def _word(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _tool_name(tool: object) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    if isinstance(function, dict):
        return str(function.get("name"))
    return str(tool.get("type")) if isinstance(tool, dict) else "?"


@register.filter
def function_calls(message: Message) -> list[dict]:
    """A reply's function calls as the page shows them: name, arguments indented (as they came
    when they are not JSON) and the result given, if any."""
    results = getattr(message, "tool_results", {})
    return [
        {
            "id": call["id"],
            "name": call["function"]["name"],
            "arguments": pretty_json(call["function"]["arguments"])
            or call["function"]["arguments"],
            "parses": bool(pretty_json(call["function"]["arguments"])),
            "result": results.get(call["id"]),
        }
        for call in message.tool_calls
    ]


@register.filter
def pretty_json(text: str) -> str:
    """A JSON reply indented for reading; "" when it does not parse."""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return ""


@register.filter
def cost_pending(item: Message | ImageGeneration) -> bool:
    """Billed, but not settled yet: the page waits for its cost to be pushed."""
    record = usage_of(item)
    return record is not None and record.status != UsageRecord.Status.SETTLED


@register.simple_tag
def image_cost(generation: ImageGeneration) -> str:
    cost = cost_text(usage_of(generation))
    return format_html(' · <span class="cost" title="{}">{}</span>', *cost) if cost else ""


@register.filter
def elapsed(moment: datetime) -> str:
    """ "12 s", "3 min 5 s": how long something has been waiting, to the second."""
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"
