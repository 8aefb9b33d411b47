"""What `make run` checks before it starts anything: the ports its processes need are free."""

import socket
from dataclasses import dataclass
from itertools import chain

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
    needed = ports_needed()
    spoken_for = {port.number for port in needed}  # another process of ours will listen there
    problems = []
    for port in needed:
        if not is_taken(port.number):
            continue
        instead = free_port_after(port.number, avoiding=spoken_for)
        spoken_for.add(instead)  # two taken ports are never told to move to the same one
        problems.append(
            f"Port {port.number} ({port.needed_by}) is taken by another program. Stop it, "
            f"or pick another port: {port.setting}={instead} make run "
            f"(or set {port.setting} in .env)."
        )
    return problems


def free_port_after(number: int, *, avoiding: set[int]) -> int:
    """The first port above ``number`` (wrapping round past 65535) that no program holds and none
    of ours will take."""
    for candidate in chain(range(number + 1, 65536), range(1024, number)):
        if candidate not in avoiding and not is_taken(candidate):
            return candidate
    raise RuntimeError("no free port on this machine")
