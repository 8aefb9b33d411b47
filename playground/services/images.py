"""Writes for image generations (CogView, GLM-Image): queued with the image's price held, called
once (GLM-Image on the upstream's queued path, then polled), stored, or failed; their sweep."""

import tempfile
import uuid
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from accounts.models import Membership, ModelEntry
from accounts.services.holds import WorstCase, hold_place, hold_release
from accounts.services.usage import usage_record
from bigmodel.catalogue import ModelSpec
from bigmodel.client import BigModelClient
from bigmodel.errors import BigModelError
from bigmodel.images import FetchFailed, FileHosts, fetch_file
from bigmodel.usage import CallUsage
from playground.models import ImageGeneration

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
    *,
    user: User,
    membership: Membership,
    spec: ModelSpec,
    prompt: str,
    size: str,
    quality: str = "",
) -> ImageGeneration:
    """A queued generation with its image's price held; raises SpendRefused, saving nothing."""
    request_id = uuid.uuid4().hex
    hold_place(
        membership=membership,
        request_id=request_id,
        call=WorstCase(model=spec.name, images=1, size=size, quality=quality),
    )
    return ImageGeneration.objects.create(
        user=user,
        team=membership.team,
        model=spec.name,
        prompt=prompt,
        size=size,
        quality=quality,
        request_id=request_id,
    )


@transaction.atomic
def image_generation_abandon(*, generation: ImageGeneration) -> None:
    """Nothing was sent (the job queue was unreachable): the attempt leaves no trace."""
    if ImageGeneration.objects.filter(
        id=generation.id, status=ImageGeneration.Status.QUEUED
    ).delete()[0]:
        hold_release(request_id=generation.request_id)


class Next(StrEnum):
    """What a generation needs after a step."""

    NOTHING = ""
    STORE = "store"  # generated and billed: download the image
    POLL = "poll"  # queued upstream (GLM-Image): ask again in a moment


def _made_queued(model: str) -> bool:
    """Whether the model is made on the upstream's queued path (async/images/generations)."""
    entry = ModelEntry.objects.filter(name=model).first()
    return entry is not None and entry.as_spec().async_images


def image_generation_run(*, generation_id: int, client: BigModelClient) -> Next:
    """queued → running → storing (billed) or failed; a model made queued stays running with its
    task, to poll. Claimed once, so a second delivery of the task never calls the upstream
    again."""
    Status = ImageGeneration.Status
    if not ImageGeneration.objects.filter(id=generation_id, status=Status.QUEUED).update(
        status=Status.RUNNING
    ):
        return Next.NOTHING
    generation = ImageGeneration.objects.get(id=generation_id)
    queued = _made_queued(generation.model)
    try:
        result = client.images_generate(
            model=generation.model,
            prompt=generation.prompt,
            size=generation.size or None,
            quality=generation.quality or None,
            request_id=generation.request_id,
            queued=queued,
        )
    except BigModelError as error:
        _image_failed(generation, error_code=str(error.code), error_message=str(error))
        return Next.NOTHING
    if queued and isinstance(result.get("id"), str):
        ImageGeneration.objects.filter(id=generation_id, status=Status.RUNNING).update(
            task_id=result["id"][:64], polled_at=timezone.now()
        )
        return Next.POLL
    return _generated(generation, _image_link(result.get("data")))


def image_generation_poll(*, generation_id: int, client: BigModelClient) -> Next:
    """Ask the upstream about a queued image: still making it, made (storing, billed), or
    failed. A poll that does not get through is tried again."""
    generation = (
        ImageGeneration.objects.filter(id=generation_id, status=ImageGeneration.Status.RUNNING)
        .exclude(task_id="")
        .first()
    )
    if generation is None:
        return Next.NOTHING
    ImageGeneration.objects.filter(id=generation_id).update(polled_at=timezone.now())
    try:
        result = client.images_result(generation.task_id)
    except BigModelError as error:
        if error.retryable:
            return Next.POLL
        _image_failed(generation, error_code=str(error.code), error_message=str(error))
        return Next.NOTHING
    status = result.get("task_status")
    if status == "SUCCESS":
        return _generated(generation, _image_link(result.get("image_result")))
    if status == "FAIL":
        _image_failed(
            generation, error_code="task", error_message="BigModel could not make this image."
        )
        return Next.NOTHING
    return Next.POLL


def image_generation_given_up(*, generation_id: int, after: str) -> None:
    """A queued image that never finished: failed, its hold released (if BigModel makes it
    later, it is not received)."""
    generation = ImageGeneration.objects.filter(id=generation_id).first()
    if generation is not None:
        _image_failed(
            generation,
            error_code="timeout",
            error_message=f"BigModel had not made the image after {after}; it was given up.",
        )


def _image_link(images: object) -> str:
    """The first image's link in a response's ``data`` (or ``image_result``), or ""."""
    first = images[0] if isinstance(images, list) and images else None
    link = first.get("url") if isinstance(first, dict) else None
    return link if isinstance(link, str) else ""


def _generated(generation: ImageGeneration, url: str) -> Next:
    """running → storing, billed, once (a second poller finds it claimed)."""
    if not url:
        _image_failed(
            generation,
            error_code="response",
            error_message="BigModel answered without an image link.",
        )
        return Next.NOTHING
    with transaction.atomic():
        claimed = ImageGeneration.objects.filter(
            id=generation.id, status=ImageGeneration.Status.RUNNING
        ).update(status=ImageGeneration.Status.STORING, upstream_url=url)
        if not claimed:
            return Next.NOTHING
        usage_record(request_id=generation.request_id, used=CallUsage(images=1))
    return Next.STORE


@transaction.atomic
def _image_failed(generation: ImageGeneration, **error: str) -> None:
    """Nothing was generated, so nothing is billed: the hold goes."""
    _image_finish(
        generation.id, ImageGeneration.Status.RUNNING, status=ImageGeneration.Status.FAILED, **error
    )
    hold_release(request_id=generation.request_id)


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


def _image_finish(generation_id: int, current: str, **fields: object) -> None:
    ImageGeneration.objects.filter(id=generation_id, status=current).update(
        finished_at=timezone.now(), **fields
    )


def image_generation_delete(*, generation: ImageGeneration) -> None:
    """The image goes; its usage record stays (it was billed)."""
    generation.delete()


@transaction.atomic
def image_generations_interrupted(*, older_than: datetime) -> int:
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
