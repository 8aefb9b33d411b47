from datetime import datetime
from decimal import Decimal

from django import template
from django.utils import timezone

from accounts import money
from accounts.models import Pack

register = template.Library()


@register.filter
def yuan(nano: int | None) -> str:
    return money.yuan(int(nano or 0))


@register.filter
def rate(amount: Decimal) -> str:
    return money.rate_text(amount)


@register.filter
def yuan_plain(nano: int | None) -> str:
    """For a form field: every digit, so saving the form again changes nothing."""
    return money.exact(int(nano or 0))


@register.filter
def countdown(moment: datetime) -> str:
    """ "in 3 days", "in 5 hours", "expired"."""
    seconds = (moment - timezone.now()).total_seconds()
    if seconds <= 0:
        return "expired"
    if seconds < 3600:
        return f"in {max(1, int(seconds // 60))} min"
    if seconds < 2 * 86400:
        return f"in {int(seconds // 3600)} h"
    return f"in {int(seconds // 86400)} days"


@register.filter
def pack_left(pack: Pack) -> str:
    if pack.unit == "tokens":
        return f"{pack.remaining:,} of {pack.size:,} tokens"
    return f"{money.yuan(pack.remaining)} of {money.yuan(pack.size)}"


@register.filter
def percent_used(pack: Pack) -> int:
    return round(100 * (pack.size - pack.remaining) / pack.size) if pack.size else 0
