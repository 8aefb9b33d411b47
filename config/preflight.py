"""What `make run` checks before it starts anything: the ports its processes need are free."""

import socket
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Port:
    number: int
    needed_by: str
    setting: str


def ports_needed() -> list[Port]:
    ports = [Port(settings.PORT, "the web app", "PORT")]
    if settings.BUNDLED_REDIS:
        ports.append(Port(settings.REDIS_PORT, "the bundled Redis", "REDIS_PORT"))
    if settings.UPSTREAM_MODE == "simulator":
        ports.append(Port(settings.SIMULATOR_PORT, "the BigModel simulator", "SIMULATOR_PORT"))
    return ports


def is_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_problems() -> list[str]:
    """One line per port that another program holds, saying how to pick another."""
    return [
        f"Port {port.number} ({port.needed_by}) is taken by another program. Stop it, "
        f"or pick another port: {port.setting}={port.number + 1} make run "
        f"(or set {port.setting} in .env)."
        for port in ports_needed()
        if is_taken(port.number)
    ]
