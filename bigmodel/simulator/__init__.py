"""A wire-compatible fake of Zhipu AI's BigModel v4 API, for tests and local development.

Run it with ``python -m bigmodel.simulator --port 8765 --key id.secret`` or in-process
with ``create_app`` / ``serve_in_thread``. It never imports Django.
"""

from .app import create_app
from .auth import make_jwt
from .faults import FAULT_NAMES
from .replies import IMAGE_TOKENS, MESSAGE_OVERHEAD, count_tokens, prompt_tokens
from .server import SimulatorHandle, serve_in_thread

__all__ = [
    "FAULT_NAMES",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "SimulatorHandle",
    "count_tokens",
    "create_app",
    "make_jwt",
    "prompt_tokens",
    "serve_in_thread",
]
