"""The client's parts that do no I/O: results, the retry policy, credentials and headers, what a
stream has delivered, and turning HTTP responses and transport failures into results or typed
errors."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .. import jsonbody
from ..auth import ApiKey, TokenSigner
from ..errors import (
    BigModelError,
    ConfigurationError,
    UpstreamFailure,
    UpstreamUnavailable,
    error_from_payload,
    error_from_response,
)
from ..sse import ChatStreamDecoder, Usage, is_abnormal_finish

logger = logging.getLogger("bigmodel")

DEFAULT_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"
DEFAULT_TIMEOUT = httpx.Timeout(300, connect=8)
# Every open stream holds a connection: allow as many as a busy web process streams at once.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=50)
MAX_BACKOFF_SECONDS = 8.0

CHAT_PATH = "chat/completions"
ASYNC_CHAT_PATH = "async/chat/completions"
IMAGES_PATH = "images/generations"
ASYNC_IMAGES_PATH = "async/images/generations"
EMBEDDINGS_PATH = "embeddings"


def async_result_path(task_id: str) -> str:
    return f"async-result/{quote(task_id, safe='')}"


@dataclass(frozen=True)
class ChatResult:
    """A non-streamed chat completion, flattened to what the app needs; ``raw`` has the rest."""

    id: str | None
    request_id: str | None
    content: str
    reasoning_content: str
    finish_reason: str | None
    usage: Usage | None
    raw: dict = field(compare=False, repr=False)
    tool_calls: tuple[dict, ...] = ()  # the functions the model asks the caller to run

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> ChatResult:
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        message = found if isinstance(found := choice.get("message"), dict) else {}
        return cls(
            id=body.get("id"),
            request_id=body.get("request_id"),
            content=_text(message.get("content")),
            reasoning_content=_text(message.get("reasoning_content")),
            finish_reason=choice.get("finish_reason"),
            usage=Usage.from_dict(body.get("usage")),
            raw=dict(body),
            tool_calls=tuple(
                call for call in message.get("tool_calls") or () if isinstance(call, dict)
            ),
        )

    @property
    def is_abnormal(self) -> bool:
        return is_abnormal_finish(self.finish_reason)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_base: float = 0.5

    def should_retry(self, error: BigModelError, *, attempt: int) -> bool:
        """``attempt`` counts from 0 for the first try."""
        return error.retryable and attempt < self.max_retries

    def delay(self, *, attempt: int) -> float:
        # The SDK's schedule: exponential, capped, with up to 25% jitter so clients spread out.
        backoff = min(self.backoff_base * 2**attempt, MAX_BACKOFF_SECONDS)
        return backoff * (1 - 0.25 * random.random())


class ClientCore:
    """Credentials, headers and response handling."""

    def __init__(
        self, *, api_key: str, base_url: str, max_retries: int, backoff_base: float
    ) -> None:
        self.api_key = ApiKey.parse(api_key)
        self.signer = TokenSigner(self.api_key)
        self.base_url = _checked_base_url(base_url)
        self.retry = RetryPolicy(max_retries=max(0, max_retries), backoff_base=backoff_base)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.api_key.sensitive_values

    def headers(self, *, stream: bool = False) -> dict[str, str]:
        # A fresh call each time: the signer renews the JWT when it is due.
        return {
            "Authorization": self.signer.authorization_header(),
            "Accept": "text/event-stream" if stream else "application/json",
        }

    def json_result(self, response: httpx.Response) -> dict:
        """The decoded body of a finished response, or the mapped error."""
        if not response.is_success:
            raise error_from_response(response.status_code, response.content, secrets=self.secrets)
        body = _decode_json_object(response.content)
        if body is None:
            raise UpstreamFailure(
                "the response was not a JSON object",
                http_status=response.status_code,
                retryable=False,  # the request may have been billed; do not send it twice
            )
        if body.get("error"):
            raise error_from_payload(body, status=response.status_code, secrets=self.secrets)
        return body

    def stream_open_error(self, response: httpx.Response) -> BigModelError:
        """Why a (fully read) stream response is not an event stream; see ``needs_body_read``."""
        if not response.is_success:
            return error_from_response(response.status_code, response.content, secrets=self.secrets)
        body = _decode_json_object(response.content)
        if body is not None and body.get("error"):
            return error_from_payload(body, status=response.status_code, secrets=self.secrets)
        return UpstreamFailure("expected an event stream, got JSON", retryable=False)

    def transport_error(
        self, exc: httpx.TransportError, *, partial_text: str = ""
    ) -> BigModelError:
        error = UpstreamUnavailable(_describe_transport_error(exc), partial_text=partial_text)
        return error.scrubbed(self.secrets)

    def retry_delay(self, error: BigModelError, *, method: str, path: str, attempt: int) -> float:
        delay = self.retry.delay(attempt=attempt)
        # Only the method, path and the (scrubbed) error: never headers or bodies.
        logger.warning(
            "%s %s failed: %s; retry %d of %d in %.2fs",
            method,
            path,
            error,
            attempt + 1,
            self.retry.max_retries,
            delay,
        )
        return delay

    def __repr__(self) -> str:
        return f"ClientCore(base_url={self.base_url!r}, api_key={self.api_key!r})"


class StreamProgress:
    """What a chat stream has delivered so far (complete once iteration has finished)."""

    _body: dict
    _decoder: ChatStreamDecoder

    @property
    def id(self) -> str | None:
        return self._decoder.reader.id

    @property
    def request_id(self) -> str | None:
        return self._body.get("request_id")

    @property
    def content(self) -> str:
        return self._decoder.reader.text

    @property
    def reasoning_content(self) -> str:
        return self._decoder.reader.reasoning_text

    @property
    def tool_calls(self) -> list[dict]:
        return self._decoder.reader.tool_calls

    @property
    def finish_reason(self) -> str | None:
        return self._decoder.reader.finish_reason

    @property
    def usage(self) -> Usage | None:
        return self._decoder.reader.usage


def needs_body_read(response: httpx.Response) -> bool:
    """A stream response that is not an event stream: an error status or a JSON body."""
    content_type = response.headers.get("content-type", "")
    return not response.is_success or content_type.startswith("application/json")


def _checked_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigurationError("the BigModel base URL must start with http:// or https://")
    return base_url.rstrip("/")


def _decode_json_object(content: bytes) -> dict | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _describe_transport_error(exc: httpx.TransportError) -> str:
    """In plain words for the page; the exception itself goes to the log only."""
    logger.warning(
        "transport error talking to BigModel: %s: %s", type(exc).__name__, str(exc).strip()
    )
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        return "could not connect to BigModel"
    if isinstance(exc, httpx.TimeoutException):
        return "BigModel took too long to answer"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "the connection to BigModel dropped"
    return "the network between here and BigModel failed"


def without_none(**fields: Any) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def request_args(body: Any, headers: dict[str, str]) -> dict:
    """``build_request`` arguments: the JSON body (streamed when it carries stored images) and
    the headers."""
    if body is None:
        return {"headers": headers}
    encoded, body_headers = jsonbody.encode(body)
    content: bytes | jsonbody.AsyncImageBody = (
        jsonbody.AsyncImageBody(encoded) if isinstance(encoded, jsonbody.ImageBody) else encoded
    )
    return {"content": content, "headers": {**headers, **body_headers}}
