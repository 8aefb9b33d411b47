"""Writes for the playground: conversations, turns, the generation's life cycle, and CogView
image generations."""

import tempfile
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from accounts.models import Membership
from accounts.services.holds import SpendRefused, WorstCase, hold_place, hold_release
from accounts.services.teams import team_ensure_personal
from accounts.services.usage import usage_record
from bigmodel.catalogue import ModelSpec
from bigmodel.errors import BigModelError
from bigmodel.images import FetchFailed, FileHosts, ImageInfo, fetch_file
from bigmodel.params import build_chat_body
from bigmodel.tokens import estimate_prompt_tokens
from playground.models import Attachment, Conversation, ImageGeneration, Message
from playground.selectors import history_for

TITLE_LENGTH = 60


class TurnRefused(Exception):
    """A turn that cannot start now, in words for the user; nothing was saved or sent."""


# What a view shows in place of a turn or a generation that was not started.
REFUSALS = (TurnRefused, SpendRefused)


@dataclass(frozen=True)
class BilledCall:
    """Who pays for one upstream call, held by whoever makes the call, so its usage is recorded
    whatever becomes of the rows that describe it (a conversation deleted while its reply runs)."""

    request_id: str
    user_id: int
    team_id: int
    model: str

    def record(
        self,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        images: int = 0,
        size: str = "",
        exact: bool = True,
    ) -> None:
        usage_record(
            request_id=self.request_id,
            user_id=self.user_id,
            team_id=self.team_id,
            model=self.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            images=images,
            size=size,
            exact=exact,
        )

    def release(self) -> None:
        hold_release(request_id=self.request_id)

    @classmethod
    def of_reply(cls, message: Message) -> "BilledCall":
        user = message.conversation.user
        team_id = message.team_id or team_ensure_personal(user=user).id  # replies from before teams
        return cls(
            request_id=message.request_id, user_id=user.id, team_id=team_id, model=message.model
        )


@dataclass(frozen=True)
class Outcome:
    """How a generation ended, as the runner saw it."""

    status: str
    content: str
    finish_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_exact: bool = True
    ttft_ms: int | None = None
    latency_ms: int | None = None
    error_code: str = ""
    error_message: str = ""


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


@dataclass(frozen=True)
class ReplyStart:
    """A reply saved as running, the exact request body its runner sends upstream, and who pays."""

    message: Message
    body: dict
    billed: BilledCall


def reply_worst_case(spec: ModelSpec, body: dict) -> WorstCase:
    """The most a reply can cost: the prompt as estimated, and every token max_tokens allows (the
    model's default when none is sent)."""
    most = body.get("max_tokens") or spec.default_max_tokens or spec.max_output_tokens
    return WorstCase(
        model=spec.name,
        prompt_tokens=estimate_prompt_tokens(body["messages"]),
        completion_tokens=most,
    )


def _check_running_replies(user) -> None:
    # One admission per user at a time; NO KEY UPDATE leaves rows that point at the user writable.
    get_user_model().objects.select_for_update(no_key=True).filter(id=user.id).first()
    running = Message.objects.filter(conversation__user=user, status=Message.Status.RUNNING).count()
    if running >= settings.MAX_RUNNING_REPLIES_PER_USER:
        raise TurnRefused(
            f"You have {running} replies being written already (at most "
            f"{settings.MAX_RUNNING_REPLIES_PER_USER} at a time); "
            "wait for one to finish or stop one."
        )


def _start_reply(
    *, conversation: Conversation, spec: ModelSpec, params: dict, membership: Membership
) -> ReplyStart:
    """The assistant message for the next upstream call, with its worst case held. It is running
    from birth: the process that saves it starts its one runner straight away (a dead process is
    the sweeper's to tidy)."""
    _check_running_replies(conversation.user)
    request_id = uuid.uuid4().hex
    messages = history_for(conversation=conversation, with_images=spec.images is not None)
    body = build_chat_body(spec, messages=messages, stream=True, request_id=request_id, **params)
    hold_place(membership=membership, request_id=request_id, call=reply_worst_case(spec, body))
    sent = {
        key: value for key, value in body.items() if key not in ("messages", "stream", "request_id")
    }
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.RUNNING,
        model=spec.name,
        params=sent,
        request_id=request_id,
        team=membership.team,
        started_at=timezone.now(),
    )
    billed = BilledCall(
        request_id=request_id,
        user_id=conversation.user_id,
        team_id=membership.team_id,
        model=spec.name,
    )
    return ReplyStart(message=message, body=body, billed=billed)


@dataclass(frozen=True)
class Upload:
    """An image file the user attached, already checked."""

    file: UploadedFile
    info: ImageInfo


@transaction.atomic
def turn_start(
    *,
    user,
    membership: Membership,
    conversation: Conversation | None,
    spec: ModelSpec,
    system: str,
    text: str,
    params: dict,
    images: list[Upload] = (),
    image_urls: list[str] = (),
) -> ReplyStart:
    """Save the user's message (with its images, moved into private storage) and its reply-to-be.
    Raises one of REFUSALS, leaving nothing saved."""
    if conversation is None:
        conversation = Conversation.objects.create(
            user=user, title=_title_from(text), model=spec.name, system=system
        )
    else:
        conversation.model = spec.name
        conversation.system = system
        conversation.save(update_fields=["model", "system", "updated_at"])
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text, image_urls=list(image_urls)
    )
    for upload in images:
        Attachment.objects.create(
            owner=user,
            team=membership.team,
            message=message,
            file=upload.file,
            name=upload.file.name[:255],
            content_type=upload.info.content_type,
            width=upload.info.width,
            height=upload.info.height,
            size=upload.info.size,
        )
    return _start_reply(conversation=conversation, spec=spec, params=params, membership=membership)


@transaction.atomic
def turn_regenerate(
    *, conversation: Conversation, membership: Membership, spec: ModelSpec, params: dict
) -> ReplyStart:
    """Replace the last reply with a new one from the same history."""
    last = conversation.messages.last()
    if last is not None and last.role == Message.Role.ASSISTANT:
        if last.is_live:
            raise TurnRefused("The last reply is still being written; stop it first.")
        last.delete()
    conversation.save(update_fields=["updated_at"])
    return _start_reply(conversation=conversation, spec=spec, params=params, membership=membership)


@transaction.atomic
def turn_edit_last(
    *, conversation: Conversation, membership: Membership, spec: ModelSpec, text: str, params: dict
) -> ReplyStart:
    """Change the last user message and send it again (the reply after it is replaced)."""
    last_user = conversation.messages.filter(role=Message.Role.USER).last()
    if last_user is None:
        raise TurnRefused("There is no message to edit yet.")
    later = conversation.messages.filter(id__gt=last_user.id)
    if any(message.is_live for message in later):
        raise ValueError("The last reply is still being written; stop it first.")
    later.delete()
    last_user.content = text
    last_user.save(update_fields=["content"])
    conversation.save(update_fields=["updated_at"])
    return _start_reply(conversation=conversation, spec=spec, params=params, membership=membership)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = _title_from(title) or conversation.title
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


@transaction.atomic
def generation_finish(*, message_id: int, outcome: Outcome, billed: BilledCall) -> Message | None:
    """running → final, once, and the call billed (or its hold released) from ``billed`` even when
    the message is gone. Returns None when the message had already been finished or deleted."""
    if outcome.prompt_tokens is not None:  # the upstream worked on it: it is billed
        billed.record(
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens or 0,
            exact=outcome.usage_exact,
        )
    else:
        billed.release()
    updated = Message.objects.filter(id=message_id, status=Message.Status.RUNNING).update(
        status=outcome.status,
        content=outcome.content,
        finish_reason=outcome.finish_reason,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        usage_exact=outcome.usage_exact,
        ttft_ms=outcome.ttft_ms,
        latency_ms=outcome.latency_ms,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        finished_at=timezone.now(),
    )
    if not updated:
        return None
    message = Message.objects.select_related("conversation__user", "team").get(id=message_id)
    Conversation.objects.filter(id=message.conversation_id).update(updated_at=timezone.now())
    return message


# --------------------------------------------------------------------------- image generation

STORE_MAX_BYTES = 30 * 1024 * 1024  # CogView's PNGs are a few MB
STORED_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
INTERRUPTED_IMAGE = (
    "Interrupted (the worker stopped during the call). If BigModel made the image, "
    "it was not received."
)


class StoreFailed(Exception):
    """The generated image could not be downloaded or was not an image; worth another try."""


@transaction.atomic
def image_generation_start(
    *, user, membership: Membership, spec: ModelSpec, prompt: str, size: str
) -> ImageGeneration:
    """A queued generation with its image's price held; raises SpendRefused, saving nothing."""
    request_id = uuid.uuid4().hex
    hold_place(
        membership=membership,
        request_id=request_id,
        call=WorstCase(model=spec.name, images=1, size=size),
    )
    return ImageGeneration.objects.create(
        user=user,
        team=membership.team,
        model=spec.name,
        prompt=prompt,
        size=size,
        request_id=request_id,
    )


def _billed_image(generation: ImageGeneration) -> BilledCall:
    return BilledCall(
        request_id=generation.request_id,
        user_id=generation.user_id,
        team_id=generation.team_id,
        model=generation.model,
    )


@transaction.atomic
def image_generation_abandon(*, generation: ImageGeneration) -> None:
    """Nothing was sent (the job queue was unreachable): the attempt leaves no trace."""
    if ImageGeneration.objects.filter(
        id=generation.id, status=ImageGeneration.Status.QUEUED
    ).delete()[0]:
        _billed_image(generation).release()


def image_generation_run(*, generation_id: int, client) -> bool:
    """queued → running → storing (billed) or failed. Claimed once, so a second delivery of the
    task never calls the upstream again. True when there is an image to store."""
    Status = ImageGeneration.Status
    if not ImageGeneration.objects.filter(id=generation_id, status=Status.QUEUED).update(
        status=Status.RUNNING
    ):
        return False
    generation = ImageGeneration.objects.get(id=generation_id)
    billed = _billed_image(generation)
    try:
        result = client.images_generate(
            model=generation.model,
            prompt=generation.prompt,
            size=generation.size or None,
            request_id=generation.request_id,
        )
        url = result["data"][0]["url"]
    except BigModelError as error:
        _image_failed(generation, billed, error_code=str(error.code), error_message=str(error))
        return False
    except (KeyError, IndexError, TypeError):
        _image_failed(
            generation,
            billed,
            error_code="response",
            error_message="BigModel answered without an image link.",
        )
        return False
    with transaction.atomic():
        ImageGeneration.objects.filter(id=generation_id).update(
            status=Status.STORING, upstream_url=url
        )
        billed.record(images=1, size=generation.size)
    return True


@transaction.atomic
def _image_failed(generation: ImageGeneration, billed: BilledCall, **error) -> None:
    """Nothing was generated, so nothing is billed: the hold goes."""
    _image_finish(
        generation.id, ImageGeneration.Status.RUNNING, status=ImageGeneration.Status.FAILED, **error
    )
    billed.release()


def _file_hosts() -> FileHosts:
    base = urlsplit(settings.ZHIPUAI_BASE_URL)
    return FileHosts(
        domains=tuple(settings.UPSTREAM_FILE_HOSTS), origin=f"{base.scheme}://{base.netloc}"
    )


def image_generation_store(*, generation_id: int) -> ImageGeneration | None:
    """Download the generated image into private storage: storing → done. Raises StoreFailed."""
    generation = ImageGeneration.objects.filter(
        id=generation_id, status=ImageGeneration.Status.STORING
    ).first()
    if generation is None:
        return None
    ImageGeneration.objects.filter(id=generation_id).update(store_attempts=F("store_attempts") + 1)
    with tempfile.TemporaryFile() as download:
        try:
            fetch_file(
                generation.upstream_url, download, max_bytes=STORE_MAX_BYTES, hosts=_file_hosts()
            )
        except FetchFailed as error:
            raise StoreFailed(str(error)) from error
        try:
            with Image.open(download) as picture:
                kind, (width, height) = picture.format, picture.size
                picture.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise StoreFailed("the link did not give an image") from error
        if kind not in STORED_FORMATS:
            raise StoreFailed(f"the link gave a {kind} file")
        download.seek(0)
        generation.file.save(f"image{STORED_FORMATS[kind]}", File(download), save=False)
    _image_finish(
        generation_id,
        ImageGeneration.Status.STORING,
        status=ImageGeneration.Status.DONE,
        file=generation.file.name,
        width=width,
        height=height,
    )
    return generation


def image_generation_unstored(*, generation_id: int, reason: str) -> None:
    """The download failed for good. The image was generated, and billed: the record stays."""
    _image_finish(
        generation_id,
        ImageGeneration.Status.STORING,
        status=ImageGeneration.Status.UNSTORED,
        error_code="store",
        error_message=f"Generated (and billed), but the image could not be kept: {reason}.",
    )


def _image_finish(generation_id: int, current: str, **fields) -> None:
    ImageGeneration.objects.filter(id=generation_id, status=current).update(
        finished_at=timezone.now(), **fields
    )


def image_generation_delete(*, generation: ImageGeneration) -> None:
    """The image goes; its usage record stays (it was billed)."""
    generation.delete()


@transaction.atomic
def image_generations_interrupted(*, older_than) -> int:
    """Calls whose worker died mid-call: failed, since whether BigModel made the image is unknown;
    their holds go with them."""
    stuck = ImageGeneration.objects.filter(
        status=ImageGeneration.Status.RUNNING, created_at__lt=older_than
    )
    request_ids = list(stuck.values_list("request_id", flat=True))
    count = stuck.update(
        status=ImageGeneration.Status.FAILED,
        error_code="interrupted",
        error_message=INTERRUPTED_IMAGE,
        finished_at=timezone.now(),
    )
    for request_id in request_ids:
        hold_release(request_id=request_id)
    return count
