from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from config import health

# The playground first, its event streams first within it: a request keeps the patterns tried
# before its own (resolver_match.tried) for as long as it runs, and a stream runs for minutes.
urlpatterns = [
    path("playground/", include("playground.urls")),
    path("", RedirectView.as_view(pattern_name="playground:index", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    # Pages have no icon; a file opened on its own (an image) makes the browser ask for one.
    path("favicon.ico", login_not_required(lambda request: HttpResponse(status=204))),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("api/paas/v4/", include("gateway.urls")),
    path("admin/", admin.site.urls),
]
