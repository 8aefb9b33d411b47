"""How many wrong passwords a login may have before it pauses (django-axes' AXES_FAILURE_LIMIT,
counted per username at one address). A stranger elsewhere cannot lock a colleague out, nor can one
member's typos at the office's one NAT address; an address that tries many usernames (guessing
across accounts) is paused for everyone once its own, higher, limit is reached."""

from axes.attempts import get_cool_off_threshold
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

# Returned once the address has had its fill: every username there is then at its limit.
ADDRESS_PAUSED = 0


def login_failure_limit(request: HttpRequest, credentials: dict | None = None) -> int:
    if address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        return ADDRESS_PAUSED
    return settings.LOGIN_FAILURE_LIMIT


def address_failures(request: HttpRequest) -> int:
    """Wrong passwords from the request's address within the cool-off, whatever the username."""
    recent = AccessAttempt.objects.filter(
        ip_address=getattr(request, "axes_ip_address", None),
        attempt_time__gte=get_cool_off_threshold(request),
    )
    return recent.aggregate(total=Sum("failures_since_start"))["total"] or 0
