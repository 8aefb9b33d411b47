"""Every key the app keeps in Redis, spelled here and nowhere else (tests/test_structure.py holds
to it), with what it holds. Celery's broker keys are Celery's own."""

import uuid

# A new stamp for every change to rows kept in memory (runtime/kept.py).
KEPT_STAMP = "kept:stamp"
# Set while settled records wait for the settlement task (accounts/queue.py).
SETTLE_PENDING = "settle:pending"


def reply(user_id: int, public_id: uuid.UUID) -> str:
    """A playground reply's stream: its deltas as they arrive (playground/reply_stream.py)."""
    return f"reply:{user_id}:{public_id}"


def reply_stop(user_id: int, public_id: uuid.UUID) -> str:
    """The Stop any web process may send to the reply's runner."""
    return f"{reply(user_id, public_id)}:stop"


def reply_alive(user_id: int, public_id: uuid.UUID) -> str:
    """The runner's heartbeat: while it lives, the sweeper leaves the reply alone."""
    return f"{reply(user_id, public_id)}:alive"


def replies_running(user_id: int) -> str:
    """A member's replies being written, against their limit (playground/limits.py)."""
    return f"streams:{user_id}"


def reader_channel() -> str:
    """A stream reader's own channel, keeping its connection subscribed (runtime/streams.py)."""
    return f"streams:reader:{uuid.uuid4().hex}"


def call_settled(request_id: str) -> str:
    """One entry once the call is settled, for pages waiting for its cost."""
    return f"usage:{request_id}"


def key_minute(key_id: int) -> str:
    """An API key's calls in the last minute (gateway/limits.py)."""
    return f"apikey:{key_id}:minute"


def key_flying(key_id: int) -> str:
    """An API key's calls in flight."""
    return f"apikey:{key_id}:flying"


def job_lock(name: str) -> str:
    """Held while one worker runs a periodic job (accounts/tasks.py)."""
    return f"lock:{name}"
