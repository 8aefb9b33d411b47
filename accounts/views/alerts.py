"""Balance thresholds and the channels alerts go to."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import money, reports
from accounts.forms import (
    ChannelForm,
    RuleForm,
)
from accounts.models import (
    AlertChannel,
    AlertRule,
    AlertSend,
    Membership,
)
from accounts.selectors import (
    AuthenticatedHttpRequest,
    require_membership,
)
from accounts.services import alerts
from accounts.views.common import manager_membership


def _alerts_page(
    request: AuthenticatedHttpRequest,
    membership: Membership,
    *,
    rule_form: RuleForm | None = None,
    channel_form: ChannelForm | None = None,
    status: int = 200,
) -> HttpResponse:
    team = membership.team
    return render(
        request,
        "accounts/alerts.html",
        {
            "membership": membership,
            "team": team,
            "rules": AlertRule.objects.filter(team=team),
            "channels": AlertChannel.objects.filter(team=team),
            "rule_form": rule_form or RuleForm(),
            "channel_form": channel_form or ChannelForm(),
            "history": AlertSend.objects.filter(team=team).select_related("channel")[:100],
            "balance": reports.balance(team),
        },
        status=status,
    )


@require_GET
def alert_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _alerts_page(request, require_membership(request))


@require_POST
def alert_rule_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A refused form comes back with its errors next to its fields; a saved one says so."""
    membership = manager_membership(request)
    form = RuleForm(request.POST)
    if not form.is_valid():
        return _alerts_page(request, membership, rule_form=form, status=400)
    alerts.alert_rule_add(team=membership.team, threshold_nano=form.cleaned_data["threshold"])
    messages.success(request, f"Added an alert below {money.yuan(form.cleaned_data['threshold'])}.")
    return redirect("accounts:alerts")


@require_POST
def alert_rule_delete(request: AuthenticatedHttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, team=manager_membership(request).team, id=rule_id)
    alerts.alert_rule_remove(rule=rule)
    messages.success(request, f"Removed the alert below {money.yuan(rule.threshold_nano)}.")
    return redirect("accounts:alerts")


@require_POST
def alert_channel_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = manager_membership(request)
    form = ChannelForm(request.POST)
    if not form.is_valid():
        return _alerts_page(request, membership, channel_form=form, status=400)
    channel = alerts.alert_channel_add(team=membership.team, **form.cleaned_data)
    messages.success(request, f"Added the channel {channel}. Send it a test to see it works.")
    return redirect("accounts:alerts")


def _channel(membership: Membership, channel_id: int) -> AlertChannel:
    return get_object_or_404(AlertChannel, team=membership.team, id=channel_id)


@require_POST
def alert_channel_delete(request: AuthenticatedHttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(manager_membership(request), channel_id)
    alerts.alert_channel_remove(channel=channel)
    messages.success(request, f"Removed the channel {channel}.")
    return redirect("accounts:alerts")


@require_POST
def alert_channel_test(request: AuthenticatedHttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(manager_membership(request), channel_id)
    alerts.alert_test(channel=channel)
    messages.success(
        request, f"A test alert is on its way to {channel}; its result shows in the history below."
    )
    return redirect("accounts:alerts")
