"""Posting to a URL a user gave us (an alert channel's webhook) without letting it reach inside.

The URL must be https, and every address its host resolves to must be on the public internet: not
loopback, private, link-local (cloud metadata among them), multicast, reserved or unspecified. The
request then goes to the very address that was checked (no second lookup a DNS trick could change),
with the host name kept for TLS and the Host header; redirects are not followed. What a user is told
on failure says what went wrong in general words only, so the feature cannot map a network.
WEBHOOK_ALLOW_PRIVATE=1 allows private addresses and plain http, for a receiver on the same
network."""

from dataclasses import dataclass

import httpx
from django.conf import settings

from runtime.netcheck import AddressRefused, checked_url

TIMEOUT_SECONDS = 10


class WebhookRefused(ValueError):
    """The URL may not be called; the message is for the user."""


class WebhookFailed(Exception):
    """The call was made and did not work; the message is for the user, in general words."""


@dataclass(frozen=True)
class Target:
    url: str  # with the checked address in place of the host name
    host: str
    host_header: str


def webhook_target(url: str) -> Target:
    """Check ``url`` and pin it to an address; raises WebhookRefused."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    try:
        checked = checked_url(
            url,
            schemes=("https", "http") if allow_private else ("https",),
            allow_private=allow_private,
        )
    except AddressRefused as refused:
        raise WebhookRefused(_refusal(refused, allow_private=allow_private)) from None
    parts, address = checked.parts, checked.address
    assert parts.hostname is not None  # checked_url refuses a URL without a host
    netloc = f"[{address}]" if ":" in address else address
    netloc += f":{parts.port}" if parts.port else ""
    host_header = parts.hostname + (f":{parts.port}" if parts.port else "")
    return Target(
        url=parts._replace(netloc=netloc).geturl(), host=parts.hostname, host_header=host_header
    )


# What lifts a refusal, for a receiver inside the team's own network.
INSIDE = "WEBHOOK_ALLOW_PRIVATE=1 allows {what}, for a receiver inside your own network."


def _refusal(refused: AddressRefused, *, allow_private: bool) -> str:
    """The check's words, and what the rule is for alerts (and the setting that lifts it)."""
    message = str(refused)
    if allow_private:
        return message
    if refused.why == "scheme":
        return f"{message} Alerts go only over https. " + INSIDE.format(what="plain http too")
    if refused.why == "not-public":
        return f"{message} Alerts cannot be sent to it. " + INSIDE.format(what="private addresses")
    return message


def webhook_post(url: str, payload: dict) -> httpx.Response:
    """POST ``payload`` as JSON to the checked address; raises WebhookRefused or WebhookFailed."""
    target = webhook_target(url)
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = client.post(
                target.url,
                json=payload,
                headers={"Host": target.host_header},
                extensions={"sni_hostname": target.host},
            )
    except httpx.TimeoutException:
        raise WebhookFailed("could not reach the webhook: timeout") from None
    except httpx.HTTPError:
        raise WebhookFailed("could not reach the webhook: no connection") from None
    if not response.is_success:
        raise WebhookFailed(f"the webhook answered HTTP {response.status_code}")
    return response
