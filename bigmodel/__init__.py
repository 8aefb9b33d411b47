"""The upstream seam: everything that talks to Zhipu AI's BigModel API. Never imports Django."""

from .auth import ApiKey, TokenSigner
from .client import (
    DEFAULT_BASE_URL,
    AsyncBigModelClient,
    AsyncChatStream,
    BigModelClient,
    ChatResult,
    ChatStream,
)
from .errors import (
    AccountError,
    AuthenticationError,
    BigModelError,
    ConfigurationError,
    InsufficientBalance,
    InvalidParameter,
    ModelNotFound,
    PromptTooLong,
    RateLimited,
    UnsafeContent,
    UpstreamFailure,
    UpstreamUnavailable,
    error_from_response,
    scrub,
)
from .params import build_chat_body, image_part, strip_data_prefix, validate_chat_params
from .sse import StreamChunk, Usage, is_abnormal_finish

__all__ = [
    "DEFAULT_BASE_URL",
    "AccountError",
    "ApiKey",
    "AsyncBigModelClient",
    "AsyncChatStream",
    "AuthenticationError",
    "BigModelClient",
    "BigModelError",
    "ChatResult",
    "ChatStream",
    "ConfigurationError",
    "InsufficientBalance",
    "InvalidParameter",
    "ModelNotFound",
    "PromptTooLong",
    "RateLimited",
    "StreamChunk",
    "TokenSigner",
    "UnsafeContent",
    "UpstreamFailure",
    "UpstreamUnavailable",
    "Usage",
    "build_chat_body",
    "error_from_response",
    "image_part",
    "is_abnormal_finish",
    "scrub",
    "strip_data_prefix",
    "validate_chat_params",
]
