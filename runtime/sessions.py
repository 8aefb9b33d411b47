"""Django's database sessions, loaded outside an ``except`` block (``SESSION_ENGINE``)."""

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        # Django awaits the load inside its ``except AttributeError``. asgiref re-raises the
        # exception being handled in the thread that runs the query, and that frame keeps it:
        # a reference cycle that holds the request's whole chain of frames (its form, its page)
        # until a full collection, which a busy web process rarely makes.
        self.accessed = True
        if not hasattr(self, "_session_cache"):
            no_session = self.session_key is None or no_load
            self._session_cache = {} if no_session else await self.aload()
        return self._session_cache
