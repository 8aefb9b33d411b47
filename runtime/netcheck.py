"""Is a URL someone gave us on the public internet? Two checks, for two uses:

- ``checked_url``, for what this app calls itself (alert webhooks): the host is resolved once and
  every address it has must be public; the caller then connects to the address checked.
- ``checked_link``, for what BigModel fetches from its own network (image links): the form only,
  with no lookup. Resolving a name here protects neither this network nor BigModel's (BigModel
  resolves it again, from elsewhere), and would hold a request thread per link. A host name that
  is not a local one, or an IP literal that is public, passes.

Public means global and not multicast: not loopback, private, link-local (cloud metadata among
them), CGNAT, reserved or unspecified. An IPv6 address that carries an IPv4 one (IPv4-mapped,
IPv4-compatible, NAT64, 6to4, IPv4-translated) must carry a public one."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

type IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(ValueError):
    """The URL may not be used; the message is for the user. ``why`` says which rule refused it:
    "scheme", "host", "not-found" or "not-public"."""

    def __init__(self, message: str, *, why: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True)
class Checked:
    parts: SplitResult
    address: str  # the first of the host's addresses, all of which passed


NOT_PUBLIC = "That address is not on the public internet."

# IPv6 ranges whose last 32 bits are an IPv4 address a packet may end up at.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d, deprecated by RFC 4291
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d, RFC 2765

# Names that only ever mean something inside a network (RFC 6761, 6762, 8375; ICANN's .internal).
_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def is_public(ip: IP) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        if (carried := _carried_ipv4(ip)) is not None and not is_public(carried):
            return False
        if ip.ipv4_mapped is not None:
            return True  # judged by the IPv4 it maps (Python counts ::ffff:0:0/96 as private)
    return ip.is_global and not ip.is_multicast


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def checked_url(url: str, *, schemes: tuple[str, ...], allow_private: bool = False) -> Checked:
    parts = _parts(url, schemes)
    assert parts.hostname is not None  # _parts refuses a URL without one
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise AddressRefused("Its host could not be found.", why="not-found") from None
    # An IP family's socket address starts with the address as text.
    addresses = [str(info[4][0]) for info in found]
    if not addresses or not (allow_private or all(map(_public_text, addresses))):
        raise AddressRefused(NOT_PUBLIC, why="not-public")
    return Checked(parts=parts, address=addresses[0])


def checked_link(url: str, *, schemes: tuple[str, ...]) -> SplitResult:
    """The URL's parts when its form is one the public internet could serve (no lookup is made)."""
    parts = _parts(url, schemes)
    assert parts.hostname is not None  # _parts refuses a URL without one
    host = parts.hostname.rstrip(".")
    literal = _ip_literal(host)
    if literal is not None:
        if not is_public(literal):
            raise AddressRefused(NOT_PUBLIC, why="not-public")
    elif host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
        # A name with no dot is one a network's own resolver completes (its search domains).
        raise AddressRefused(
            f"{host} is a name inside a network, not on the public internet.", why="not-public"
        )
    return parts


def _parts(url: str, schemes: tuple[str, ...]) -> SplitResult:
    parts = urlsplit(url.strip())
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)
    if parts.scheme not in schemes:
        given = f" (not {parts.scheme}://)" if parts.scheme else ""
        raise AddressRefused(f"Use an address that starts with {wanted}{given}.", why="scheme")
    try:
        parts.port  # noqa: B018 (a port out of range or not a number raises here)
    except ValueError:
        raise AddressRefused("Its port is not a number from 1 to 65535.", why="host") from None
    if not parts.hostname:
        raise AddressRefused(f"Give the whole address, with its host: {wanted}host/…", why="host")
    return parts


def _public_text(address: str) -> bool:
    return is_public(ipaddress.ip_address(address.split("%", 1)[0]))


def _ip_literal(host: str) -> IP | None:
    """The address a host written as one stands for, in any form a resolver reads as one: IPv6,
    dotted IPv4, and the short, decimal, octal and hex IPv4 forms (``127.1``, ``2130706433``,
    ``0x7f.0.0.1``) that inet_aton reads."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not all(char in "0123456789abcdefx." for char in host):
        return None  # a name: inet_aton would also take "1.2.3.4 anything" on some systems
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
