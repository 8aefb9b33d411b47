"""Which addresses count as the public internet (runtime.netcheck): every IPv6 form that carries a
private, loopback, link-local or otherwise non-global IPv4 address is refused like the address
itself, and an image link is checked for its form only, with no lookup."""

import pytest

from runtime.netcheck import AddressRefused, checked_link, checked_url

HTTP = ("https", "http")

# Each IPv6 form of an inside IPv4 address, and the range that is never public.
INSIDE_IPV6 = [
    pytest.param("64:ff9b::7f00:1", id="nat64-of-loopback"),
    pytest.param("64:ff9b::a00:7", id="nat64-of-private"),
    pytest.param("64:ff9b::a9fe:a9fe", id="nat64-of-metadata"),
    pytest.param("64:ff9b::6440:1", id="nat64-of-cgnat"),
    pytest.param("64:ff9b:1::808:808", id="nat64-local-use"),
    pytest.param("::127.0.0.1", id="ipv4-compatible-loopback"),
    pytest.param("::10.0.0.1", id="ipv4-compatible-private"),
    pytest.param("::169.254.169.254", id="ipv4-compatible-link-local"),
    pytest.param("::ffff:127.0.0.1", id="ipv4-mapped-loopback"),
    pytest.param("::ffff:192.168.1.1", id="ipv4-mapped-private"),
    pytest.param("::ffff:169.254.169.254", id="ipv4-mapped-link-local"),
    pytest.param("::ffff:0:10.0.0.1", id="ipv4-translated-private"),
    pytest.param("2002:7f00:1::1", id="6to4-of-loopback"),
    pytest.param("2002:c0a8:101::1", id="6to4-of-private"),
    pytest.param("2002:a9fe:a9fe::1", id="6to4-of-link-local"),
    pytest.param("2002:0:1::1", id="6to4-of-this-network"),
]
INSIDE_IPV4 = ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.20", "100.64.0.1",
               "169.254.169.254", "0.0.0.0", "224.0.0.251", "240.0.0.1"]  # fmt: skip


def host_of(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", INSIDE_IPV6)
def test_an_ipv6_form_of_an_inside_address_is_not_public(address):
    for check in (
        lambda url: checked_url(url, schemes=HTTP),
        lambda url: checked_link(url, schemes=HTTP),
    ):
        with pytest.raises(AddressRefused, match="not on the public internet"):
            check(f"https://{host_of(address)}/hook")


@pytest.mark.parametrize("address", INSIDE_IPV4)
def test_an_inside_ipv4_literal_is_not_public(address):
    with pytest.raises(AddressRefused, match="not on the public internet"):
        checked_link(f"http://{address}/a.png", schemes=HTTP)


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "64:ff9b::5db8:d822", "::ffff:93.184.216.34", "2606:4700::1111"]
)
def test_a_public_address_in_any_form_is_public(address):
    assert checked_url(f"https://{host_of(address)}/", schemes=HTTP).address
    assert checked_link(f"https://{host_of(address)}/", schemes=HTTP).hostname


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "10.1"]
)
def test_an_ipv4_literal_in_a_short_or_numeric_form_is_read_as_one(host):
    with pytest.raises(AddressRefused, match="not on the public internet"):
        checked_link(f"http://{host}/a.png", schemes=HTTP)


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST.", "app.localhost", "printer.local", "metadata.google.internal",
     "nas.home.arpa", "intranet"],
)  # fmt: skip
def test_a_name_that_only_means_something_inside_a_network_is_refused(host):
    with pytest.raises(AddressRefused, match="inside a network"):
        checked_link(f"https://{host}/a.png", schemes=HTTP)


def test_a_link_is_checked_for_its_form_without_any_lookup():
    # A reserved name no resolver anywhere answers for: only its form is looked at.
    assert checked_link("https://cat-pictures.example/a.png", schemes=HTTP).hostname == (
        "cat-pictures.example"
    )
    with pytest.raises(AddressRefused, match="could not be found"):
        checked_url("https://cat-pictures.example/a.png", schemes=HTTP)


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://93.184.216.34/a.png", "starts with https:// or http:// (not ftp://)"),
        ("93.184.216.34/a.png", "Use an address that starts with https:// or http://."),
        ("https:///a.png", "with its host"),
        ("https://93.184.216.34:99999/a.png", "port"),
    ],
)
def test_a_link_of_the_wrong_form_says_what_is_wrong(url, words):
    with pytest.raises(AddressRefused) as refused:
        checked_link(url, schemes=HTTP)
    assert words in str(refused.value)
