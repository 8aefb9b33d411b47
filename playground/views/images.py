"""Image generation: the gallery page and each generation's card, file and actions."""

import mimetypes
import uuid
from pathlib import Path
from typing import Any

from django.forms.utils import ErrorDict
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import (
    reswap,
    retarget,
    trigger_client_event,
)
from kombu.exceptions import KombuError

from accounts.models import ModelEntry
from accounts.selectors import AuthenticatedHttpRequest
from bigmodel.catalogue import ModelSpec
from playground import selectors
from playground.files import private_file_response
from playground.forms import ImageForm
from playground.services import images as image_writes
from playground.services import turns
from playground.tasks import image_generate_task
from playground.views.common import payer


def _images_context(request: AuthenticatedHttpRequest) -> dict[str, Any]:
    entries = list(ModelEntry.objects.images())
    generations = list(selectors.image_generations_for_user(user=request.user))
    selectors.attach_usage(generations)
    return {
        "form": ImageForm(initial={"model": entries[0].name if entries else ""}),
        "image_models": entries,
        "image_specs": {entry.name: entry.as_spec().to_dict() for entry in entries},
        "generations": generations,
    }


def _image_refusal(request: HttpRequest, errors: ErrorDict | dict[str, list[str]]) -> HttpResponse:
    """Only the error area changes (``errors``: field → messages, "__all__" for the form's own):
    the prompt and settings stay as typed."""
    response = render(request, "playground/images.html#image-errors", {"errors": errors})
    retarget(response, "#image-errors")
    reswap(response, "innerHTML")
    return response


def _queue_generation(
    request: AuthenticatedHttpRequest, *, spec: ModelSpec, prompt: str, size: str, quality: str = ""
) -> HttpResponse:
    """Save and queue one generation; its card, or the form's errors (the team cannot pay, the queue
    is down)."""
    try:
        generation = image_writes.image_generation_start(
            user=request.user,
            membership=payer(request),
            spec=spec,
            prompt=prompt,
            size=size,
            quality=quality,
        )
    except turns.REFUSALS as refusal:
        return _image_refusal(request, {"__all__": [str(refusal)]})
    try:
        image_generate_task.delay(generation.id)
    except KombuError:
        image_writes.image_generation_abandon(generation=generation)
        return _image_refusal(
            request,
            {
                "__all__": [
                    "The job queue (Redis) is not reachable, so nothing was sent. "
                    "Try again in a moment."
                ]
            },
        )
    response = render(request, "playground/_image_card.html", {"generation": generation})
    retarget(response, "#gallery")
    reswap(response, "afterbegin")
    trigger_client_event(response, "image-queued")
    return response


@require_http_methods(["GET", "POST"])
def images(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ImageForm(request.POST)
        if not form.is_valid():
            return _image_refusal(request, form.errors)
        assert form.spec is not None  # a valid form has its model's spec
        return _queue_generation(
            request,
            spec=form.spec,
            prompt=form.cleaned_data["prompt"],
            size=form.cleaned_data["size"],
            quality=form.cleaned_data["quality"],
        )
    return render(request, "playground/images.html", _images_context(request))


@require_GET
def image_card(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    generation = selectors.get_image_generation_for_user(
        user=request.user, public_id=public_id, audit=True
    )
    return render(request, "playground/_image_card.html", {"generation": generation})


@require_GET
def image_file(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> StreamingHttpResponse:
    generation = selectors.get_image_generation_for_user(
        user=request.user, public_id=public_id, audit=True
    )
    if not generation.file:
        raise Http404("This generation has no stored image.")
    assert generation.file.name is not None  # a stored file has its name
    filename = (
        f"{generation.model}-{generation.public_id.hex[:8]}{Path(generation.file.name).suffix}"
    )
    return private_file_response(
        generation.file,
        content_type=mimetypes.guess_type(filename)[0] or "image/png",
        filename=filename,
        download="download" in request.GET,
    )


@require_POST
def image_delete(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    generation = selectors.get_image_generation_for_user(user=request.user, public_id=public_id)
    image_writes.image_generation_delete(generation=generation)
    return HttpResponse("")


@require_POST
def image_again(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The same model, prompt, size and quality, as a new generation."""
    previous = selectors.get_image_generation_for_user(user=request.user, public_id=public_id)
    entry = ModelEntry.objects.images().filter(name=previous.model).first()
    if entry is None:
        return _image_refusal(
            request, {"__all__": [f"{previous.model} is no longer offered; pick another model."]}
        )
    return _queue_generation(
        request,
        spec=entry.as_spec(),
        prompt=previous.prompt,
        size=previous.size,
        quality=previous.quality,
    )
