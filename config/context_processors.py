from django.conf import settings
from django.http import HttpRequest


def upstream(request: HttpRequest) -> dict[str, str]:
    """Every page says plainly when replies come from the offline simulator."""
    return {"upstream_mode": settings.UPSTREAM_MODE}
