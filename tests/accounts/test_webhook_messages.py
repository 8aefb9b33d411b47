"""A refused webhook says which rule refused it, in the user's terms: the scheme (alerts need
https), or the address (inside a network), with the setting that allows a receiver inside one."""

import html

import pytest
from django.test import Client

from accounts.models import AlertChannel
from accounts.webhooks import WebhookRefused, webhook_target


def refusal_on_the_page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    page = client.post(
        "/accounts/alerts/channels/", {"kind": "webhook", "target": url}, follow=True
    )
    assert not AlertChannel.objects.exists()
    return html.unescape(page.content.decode())


def refusal_of(url: str) -> str:
    with pytest.raises(WebhookRefused) as refused:
        webhook_target(url)
    return str(refused.value)


@pytest.mark.parametrize(
    "url, words",
    [
        (
            "http://127.0.0.1:8000/hook",
            "Use an address that starts with https:// (not http://). Alerts go only over https. "
            "WEBHOOK_ALLOW_PRIVATE=1 allows plain http too, for a receiver inside your own "
            "network.",
        ),
        (
            "https://10.0.0.5/hook",
            "That address is not on the public internet. Alerts cannot be sent to it. "
            "WEBHOOK_ALLOW_PRIVATE=1 allows private addresses, for a receiver inside your own "
            "network.",
        ),
        ("https://hooks.example.com:99999/", "Its port is not a number from 1 to 65535."),
    ],
)
def test_a_refused_webhook_says_which_rule_refused_it(settings, alice, url, words):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert refusal_of(url) == words
    assert words in refusal_on_the_page(alice, url)


def test_a_full_address_is_never_called_not_full(settings, alice):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert "full" not in refusal_of("http://127.0.0.1:8000/hook")


def test_with_private_receivers_allowed_only_the_scheme_is_asked_for(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert refusal_of("ftp://10.0.0.5/hook") == (
        "Use an address that starts with https:// or http:// (not ftp://)."
    )
