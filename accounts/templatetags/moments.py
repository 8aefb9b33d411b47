"""Moments on pages: in TIME_ZONE, where budgets reset and bills are cut, and labelled with it, so a
reader whose own clock is elsewhere is not misled. Every time a page shows goes through ``when``."""

from datetime import UTC, datetime

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

FORMATS = {"minutes": "%Y-%m-%d %H:%M", "seconds": "%Y-%m-%d %H:%M:%S"}


def zone_label(local: datetime) -> str:
    """The zone's abbreviation ("CST"); an offset for zones that have none ("+08" → "UTC+08")."""
    name = local.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def _offset(local: datetime) -> str:
    text = local.strftime("%z")  # "+0800"
    return f"UTC{text[:3]}:{text[3:]}"


@register.filter
def when(moment: datetime | None, precision: str = "minutes") -> SafeString | str:
    """``<time datetime="2026-12-08T00:30:00+08:00" title="Asia/Shanghai time, UTC+08:00 ·
    2026-12-07 16:30 UTC">2026-12-08 00:30 CST</time>``; "" for no moment (so ``|default``
    applies). ``precision``: "minutes" or "seconds"."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    shown = local.strftime(FORMATS[precision])
    utc = moment.astimezone(UTC).strftime(FORMATS[precision])
    return format_html(
        '<time datetime="{}" title="{} time, {} · {} UTC">{} {}</time>',
        local.isoformat(timespec="seconds"),
        settings.TIME_ZONE,
        _offset(local),
        utc,
        shown,
        zone_label(local),
    )


@register.simple_tag
def time_zone() -> str:
    """The zone the pages' days run in, for a note beside dates: "Asia/Shanghai (CST)"."""
    return f"{settings.TIME_ZONE} ({zone_label(timezone.localtime())})"
