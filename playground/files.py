"""Serving private files (uploads, generated images) to whoever a view has let through."""

import asyncio
from collections.abc import AsyncIterator

from django.db.models.fields.files import FieldFile
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

CHUNK = 64 * 1024


async def _chunks(path: str) -> AsyncIterator[bytes]:
    # An async iterator: under ASGI a sync one (FileResponse) is read whole into memory first.
    with open(path, "rb") as source:
        while chunk := await asyncio.to_thread(source.read, CHUNK):
            yield chunk


def private_file_response(
    field_file: FieldFile, *, content_type: str, filename: str, download: bool
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_chunks(field_file.path), content_type=content_type)
    response["Content-Length"] = str(field_file.size)
    disposition = content_disposition_header(download, filename)
    assert disposition is not None  # callers always name the file
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "private, max-age=3600"
    return response
