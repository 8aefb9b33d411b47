from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.shortcuts import resolve_url
from django.utils.decorators import sync_and_async_middleware
from django_htmx.http import HttpResponseClientRedirect


def _to_full_page_redirect(request, response):
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
def htmx_login_redirect(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return _to_full_page_redirect(request, await get_response(request))

        return markcoroutinefunction(middleware)

    def middleware(request):
        return _to_full_page_redirect(request, get_response(request))

    return middleware


class ContentSecurityPolicy(ContentSecurityPolicyMiddleware):
    """Django's own CSP middleware, run inline under ASGI: its two steps only build a header, so the
    thread hop each way that MiddlewareMixin would add to every async request buys nothing."""

    async def __acall__(self, request):
        self.process_request(request)
        return self.process_response(request, await self.get_response(request))
