"""Adding cash (site staff's, or owners' where allowed)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import money
from accounts.forms import (
    TopUpForm,
)
from accounts.models import (
    Membership,
    TopUp,
)
from accounts.selectors import (
    AuthenticatedHttpRequest,
    require_membership,
)
from accounts.services import teams, wallet
from accounts.views.common import MONEY_IS_STAFFS


def _may_top_up(request: AuthenticatedHttpRequest, membership: Membership) -> bool:
    return teams.may_manage_money(user=request.user, membership=membership)


@require_http_methods(["GET", "POST"])
def topups(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = require_membership(request)
    form = TopUpForm(request.POST or None)
    if request.method == "POST":
        if not _may_top_up(request, membership):
            raise PermissionDenied(MONEY_IS_STAFFS)
        if form.is_valid():
            topup = wallet.wallet_topup(
                team=membership.team,
                amount_nano=form.cleaned_data["amount"],
                method=form.cleaned_data["method"],
                note=form.cleaned_data["note"],
                by=request.user,
            )
            messages.success(
                request, f"Added {money.yuan(topup.amount_nano)} to {membership.team.name}."
            )
            return redirect("accounts:topups")
    history = TopUp.objects.filter(team=membership.team).select_related("created_by")
    return render(
        request,
        "accounts/topups.html",
        {
            "membership": membership,
            "team": membership.team,
            "form": form,
            "history": history,
            "may_top_up": _may_top_up(request, membership),
            "total": history.aggregate(total=Sum("amount_nano"))["total"] or 0,
        },
    )
