"""GET /healthz: is every piece the app needs up? 200 only when all are."""

import hmac

import httpx
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from runtime.redis import redis_client


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _redis() -> str:
    redis_client().ping()
    return "ok"


def _worker() -> str:
    # limit=1 returns as soon as one worker answers instead of waiting out the timeout.
    replies = celery_app.control.ping(timeout=1.0, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered")
    return "ok"


def _upstream() -> str:
    if settings.UPSTREAM_MODE == "simulator":
        base = settings.ZHIPUAI_BASE_URL.split("/api/")[0]
        httpx.get(f"{base}/_sim/health", timeout=2.0).raise_for_status()
    return "ok"


CHECKS = {"database": _database, "redis": _redis, "worker": _worker, "upstream": _upstream}


def _may_see_details(request: HttpRequest) -> bool:
    """A site admin's session, or ``Authorization: Bearer <HEALTHZ_TOKEN>`` (a monitor's)."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.HEALTHZ_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Up or down for anyone (a load balancer); which part and why only for those allowed."""
    report = {"upstream_mode": settings.UPSTREAM_MODE}
    healthy = True
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as exc:  # any failure means "down"; say which and why
            healthy = False
            report[name] = f"down: {type(exc).__name__}: {exc}"[:200]
    report["status"] = "ok" if healthy else "degraded"
    if not _may_see_details(request):
        report = {"status": report["status"]}
    return JsonResponse(report, status=200 if healthy else 503)
