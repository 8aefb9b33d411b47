"""Middleware: Django's own classes with their hooks run on the event loop, and the app's own.

Under ASGI, MiddlewareMixin sends every hook of a middleware to a thread (two hops per
middleware, on every request), though most of Django's only read and set headers and cookies.
Each class here runs its hooks in place and goes to a thread only for a hook that does I/O (the
messages or the session stored). Settings name Django's own security, session, CSRF and
clickjacking classes, as its deploy checks look for them by name; the ASGI handler runs the
in-place versions of those four instead (:data:`IN_PLACE_OF`, config/asgi.py)."""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.shortcuts import resolve_url
from django.utils.decorators import sync_and_async_middleware
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from django.utils.deprecation import MiddlewareMixin as _Hooked
else:
    _Hooked = object  # InPlace is mixed into a MiddlewareMixin class

type GetResponse = (
    Callable[[HttpRequest], HttpResponseBase] | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
)


type View = Callable[..., HttpResponseBase]


class HtmxRequest(HttpRequest):
    """A request past django-htmx's middleware, which gives it ``htmx``."""

    htmx: HtmxDetails


def _to_full_page_redirect(request: HtmxRequest, response: HttpResponseBase) -> HttpResponseBase:
    """An htmx request whose session expired would swap the login page into a fragment;
    send the browser to the login page instead."""
    location = response.get("Location", "")
    if (
        request.htmx
        and response.status_code == 302
        and location.startswith(resolve_url(settings.LOGIN_URL))
    ):
        return HttpResponseClientRedirect(location)
    return response


@sync_and_async_middleware  # a sync-only middleware would put every async view behind a thread hop
def htmx_login_redirect(
    get_response: GetResponse,
) -> Callable[[HtmxRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HtmxRequest) -> HttpResponseBase:
            return _to_full_page_redirect(request, await get_response(request))

        return markcoroutinefunction(async_middleware)

    def middleware(request: HtmxRequest) -> HttpResponseBase:
        # A sync one: an async one is the branch above.
        return _to_full_page_redirect(request, cast(HttpResponseBase, get_response(request)))

    return middleware


class InPlace(_Hooked):
    """Mixin for a MiddlewareMixin class: its hooks run on the event loop, the response's in a
    thread only when :meth:`responding_does_io`."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.process_request(request) if hasattr(self, "process_request") else None
        # An async one: Django calls __acall__ only in async mode.
        response = response or await cast(Awaitable[HttpResponseBase], self.get_response(request))
        if not hasattr(self, "process_response"):
            return response
        if self.responding_does_io(request):
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)

    def responding_does_io(self, request: HttpRequest) -> bool:
        return False


class ContentSecurityPolicy(InPlace, ContentSecurityPolicyMiddleware):
    pass


class CommonMiddleware(InPlace, common.CommonMiddleware):
    pass


class AuthenticationMiddleware(InPlace, auth.AuthenticationMiddleware):
    pass


class LoginRequiredMiddleware(InPlace, auth.LoginRequiredMiddleware):
    # Async where Django's is sync: the handler awaits an async hook in async mode.
    async def process_view(  # type: ignore[override]
        self, request: HttpRequest, view_func: View, view_args: tuple, view_kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        # The user, looked up once here, is the view's too (request.user is otherwise a lazy
        # lookup of its own).
        request.user = await request.auser()
        return super().process_view(request, view_func, view_args, view_kwargs)


class MessageMiddleware(InPlace, messages.MessageMiddleware):
    def responding_does_io(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)  # stored in the session when over a cookie
        return storage is not None and (storage.used or storage.added_new)


class SecurityMiddleware(InPlace, security.SecurityMiddleware):
    pass


class SessionMiddleware(InPlace, sessions.SessionMiddleware):
    def responding_does_io(self, request: HttpRequest) -> bool:
        return request.session.modified or settings.SESSION_SAVE_EVERY_REQUEST


class CsrfViewMiddleware(InPlace, csrf.CsrfViewMiddleware):
    # Async where Django's is sync: the handler awaits an async hook in async mode.
    async def process_view(  # type: ignore[override]
        self, request: HttpRequest, view_func: View, view_args: tuple, view_kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        # The token check parses the form: an upload's parts (megabytes, written to disk) are
        # parsed on a lane, so that the event loop's open streams do not wait for them.
        check = partial(super().process_view, request, view_func, view_args, view_kwargs)
        if request.content_type == "multipart/form-data":
            return await sync_to_async(check)()
        return check()


class XFrameOptionsMiddleware(InPlace, clickjacking.XFrameOptionsMiddleware):
    pass


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# Django's class's dotted path → its in-place version's (the one base that is not InPlace).
IN_PLACE_OF = {
    _dotted(cls.__bases__[1]): _dotted(cls)
    for cls in (SecurityMiddleware, SessionMiddleware, CsrfViewMiddleware, XFrameOptionsMiddleware)
}
