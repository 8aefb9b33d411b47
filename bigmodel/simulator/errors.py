"""Upstream error bodies: ``{"error": {"code": "<string>", "message": "..."}}``.

Codes and wording follow section 3 of the wire contract; where a live capture
exists its exact text is used so the app's error mapping sees real strings.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

MSG_BAD_PARAMS = "API 调用参数有误，请检查文档。"
MSG_NO_MODEL = "模型不存在，请检查模型代码。"
MSG_BAD_MESSAGES = "messages 参数非法。请检查文档。"
MSG_PROMPT_TOO_LONG = "Prompt exceeds max length"
MSG_RATE_LIMIT_OLD = "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"
MSG_TOO_MANY = "当前API请求过多，请稍后重试。"
MSG_NO_BALANCE = "余额不足或无可用资源包,请充值。"
MSG_UNSAFE = (
    "系统检测到输入或生成内容可能包含不安全或敏感内容，"
    "请您避免输入易产生敏感内容的提示语，感谢您的配合。"
)
MSG_INTERNAL = "内部错误"
MSG_DAILY_LIMIT = "您当日的调用次数已达上限，请明日再试。"
# The real messages name the moment the cap resets; the simulator's is a fixed one.
MSG_USAGE_CAP = "已达到使用上限。您的限额将在 2026-12-01 20:00:00 重置。"
MSG_MODEL_BUSY = "该模型当前访问量过大，请您稍后再试或尝试其他模型。"
MSG_TASK_MISSING = "任务不存在"
MSG_BAD_IMAGE = "图片输入格式/解析错误"


class ApiError(Exception):
    """Raised anywhere in a handler; turned into the upstream error body."""

    def __init__(self, status: int, code: str | int, message: str, extra: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = str(code)
        self.message = message
        # Top-level siblings of "error", e.g. contentFilter for code 1301.
        self.extra = extra or {}

    def body(self) -> dict:
        return {**self.extra, "error": {"code": self.code, "message": self.message}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def bad_request(code: str | int, message: str) -> ApiError:
    return ApiError(400, code, message)


def missing(field: str) -> ApiError:
    return ApiError(400, 1213, f"未正常接收到{field}参数。")


def invalid(field: str) -> ApiError:
    return ApiError(400, 1214, f"{field}参数非法。请检查文档。")


def unsupported_method(model: str, method: str) -> ApiError:
    return ApiError(400, 1212, f"当前模型{model}不支持{method}调用方式。")


def unauthorized(code: int, message: str) -> ApiError:
    return ApiError(401, code, message)
