from django.conf import settings


def upstream(request):
    """Every page says plainly when replies come from the offline simulator."""
    return {"upstream_mode": settings.UPSTREAM_MODE}
