"""Is a URL someone gave us on the public internet? Resolved once: every address its host has must
be global (not loopback, private, link-local — cloud metadata among them —, CGNAT, multicast,
reserved or unspecified, IPv4-mapped ones included). Used for alert webhooks (which we call) and
image links (which BigModel fetches)."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit


class AddressRefused(ValueError):
    """The URL may not be used; the message is for the user."""


@dataclass(frozen=True)
class Checked:
    parts: SplitResult
    address: str  # the first of the host's addresses, all of which passed


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def checked_url(url: str, *, schemes: tuple[str, ...], allow_private: bool = False) -> Checked:
    parts = urlsplit(url.strip())
    if parts.scheme not in schemes or not parts.hostname:
        raise AddressRefused(
            f"Use a full {' or '.join(f'{scheme}://' for scheme in schemes)} address."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise AddressRefused("Its host could not be found.") from None
    # An IP family's socket address starts with the address as text.
    addresses = [str(info[4][0]) for info in found]
    if not addresses or not (allow_private or all(_public(address) for address in addresses)):
        raise AddressRefused("That address is not on the public internet.")
    return Checked(parts=parts, address=addresses[0])
