"""Writes for CogView image generations: queued with the image's price held, called once,
stored, or failed; their sweep."""

import tempfile
import uuid
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from accounts.models import Membership
from accounts.services.holds import WorstCase, hold_place, hold_release
from bigmodel.catalogue import ModelSpec
from bigmodel.client import BigModelClient
from bigmodel.errors import BigModelError
from bigmodel.images import FetchFailed, FileHosts, fetch_file
from playground.models import ImageGeneration
from playground.services.billing import BilledCall

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
        call=WorstCase(model=spec.name, images=1, size=size),
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


def image_generation_run(*, generation_id: int, client: BigModelClient) -> bool:
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
            quality=generation.quality or None,
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
def _image_failed(generation: ImageGeneration, billed: BilledCall, **error: str) -> None:
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
