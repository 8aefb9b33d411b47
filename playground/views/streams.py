"""A reply's live stream, its Stop, and its cost once settled, as server-sent events."""

import uuid
from collections.abc import AsyncGenerator
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_POST

from playground import selectors
from playground.limits import held, stream_slot
from playground.reply_stream import ReplyStream
from playground.services.replies import reply_stop, reply_stream_of
from playground.streaming import cost_events, reply_events
from runtime.sse import event_stream

TOO_MANY_STREAMS = (
    "Too many live streams are open for you ({limit}): close some tabs of the playground. "
    "This one reconnects by itself."
)


async def _event_stream(
    user: User, events: AsyncGenerator[str, None]
) -> HttpResponse | StreamingHttpResponse:
    slot = await stream_slot(user.id)
    if slot is None:
        await events.aclose()
        return HttpResponse(
            TOO_MANY_STREAMS.format(limit=settings.MAX_STREAMS_PER_USER),
            status=429,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": "10"},
        )
    return event_stream(held(events, slot))


@require_GET
async def reply_stream(
    request: HttpRequest, reply_id: uuid.UUID
) -> HttpResponse | StreamingHttpResponse:
    """The reply's live stream; it may open before the reply exists (the page's POST is on its
    way), and then waits for it. ``?new=1``: the page has just named the reply, so there is
    nothing to look up yet, and the lookup would only hold up the POST that saves it; the stream
    is the user's own either way (its key carries their id)."""
    user = cast(User, await request.auser())  # signed in: LoginRequiredMiddleware
    message = None
    if "new" not in request.GET:
        message = await selectors.reply_if_any(public_id=reply_id)
        if message is not None and message.conversation.user_id != user.id:
            raise Http404("No such reply.")
    stream = ReplyStream(user_id=user.id, public_id=reply_id)
    last_event_id = request.headers.get("Last-Event-ID")
    return await _event_stream(user, reply_events(stream, message, last_event_id=last_event_id))


@require_GET
async def message_cost(
    request: HttpRequest, message_id: int
) -> HttpResponse | StreamingHttpResponse:
    """Pushes the reply's cost once its usage is settled (the page shows "cost pending…" until
    then)."""
    user = cast(User, await request.auser())  # signed in: LoginRequiredMiddleware
    message = await sync_to_async(selectors.get_message_for_user)(user=user, message_id=message_id)
    return await _event_stream(user, cost_events(message))


@require_POST
async def stop(request: HttpRequest, reply_id: uuid.UUID) -> HttpResponse:
    """Cancel upstream; the runner keeps the partial reply, marked stopped, wherever it runs."""
    user = cast(User, await request.auser())  # signed in: LoginRequiredMiddleware
    message = await sync_to_async(selectors.get_reply_for_user)(user=user, public_id=reply_id)
    if message.is_live:
        await reply_stop(reply_stream_of(message), message.id)
    return HttpResponse(status=204)
