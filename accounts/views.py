"""The money pages: dashboard, bills, exports, pricing, top-ups, the team and its alerts."""

import csv
import io

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import charts, money, reports
from accounts.forms import (
    FIRST_DAY,
    LAST_DAY,
    AcceptInviteForm,
    AddMemberForm,
    BillingForm,
    ChannelForm,
    DateRangeForm,
    InviteForm,
    MemberForm,
    NewTeamForm,
    PeriodForm,
    RuleForm,
    TopUpForm,
    month_of,
)
from accounts.models import (
    AlertChannel,
    AlertRule,
    AlertSend,
    LedgerEntry,
    Membership,
    ModelEntry,
    Pack,
    Price,
    TopUp,
    UsageRecord,
)
from accounts.selectors import (
    SESSION_KEY,
    active_membership,
    get_membership_for_user,
    require_membership,
    team_for_member,
)
from accounts.services import alerts, teams, wallet
from accounts.services.pricing import PriceBook


def _manager(request) -> Membership:
    membership = require_membership(request)
    if not membership.manages:
        raise PermissionDenied("Only the team's owners and admins can do this.")
    return membership


# --------------------------------------------------------------------------- dashboard


def _filters(request, membership) -> tuple[PeriodForm, reports.Filters]:
    """The dashboard's filters; a period out of range falls back to the last 30 days, with the form
    saying why (and the page answering 400)."""
    form = PeriodForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    period = data.get("period") or reports.Period.last_days(PeriodForm.default_days)
    user_id = reports.visible_user_id(membership, data.get("member"))
    return form, reports.Filters(period=period, user_id=user_id, model=data.get("model") or "")


@require_GET
def dashboard(request):
    membership = require_membership(request)
    team = membership.team
    form, filters = _filters(request, membership)
    rows = reports.rollups(team, filters)
    days, models, cost = reports.by_day_and_model(rows, filters.period)
    members = reports.by_member(rows) if membership.manages else []
    per_model = reports.by_model(rows)
    context = {
        "membership": membership,
        "team": team,
        "form": form,
        "filters": filters,
        "balance": reports.balance(team),
        "totals": reports.totals(rows),
        "spend_chart": charts.stacked_by_day(days, models, cost),
        "member_chart": charts.horizontal(
            members,
            label=lambda r: r["user__username"],
            value=lambda r: r["cost_nano"],
            text=lambda r: (
                f"{money.yuan(r['cost_nano'])}, "
                f"{r['prompt_tokens'] + r['completion_tokens']:,} tokens"
            ),
        ),
        "model_chart": charts.horizontal(
            per_model,
            label=lambda r: r["model"],
            value=lambda r: r["cost_nano"],
            text=lambda r: f"{money.yuan(r['cost_nano'])}, {r['calls']:,} calls",
        ),
        "members": members,
        "per_model": per_model,
        "member_choices": Membership.objects.filter(team=team).select_related("user")
        if membership.manages
        else [],
        "model_choices": sorted(
            set(
                reports.rollups(
                    team,
                    reports.Filters(
                        filters.period, user_id=reports.visible_user_id(membership, None)
                    ),
                ).values_list("model", flat=True)
            )
        ),
        "unpriced": reports.unpriced_calls(team),
        "over_holds": reports.over_holds(team, filters),
    }
    return render(request, "accounts/dashboard.html", context, status=400 if form.errors else 200)


@require_GET
def summary_json(request):
    membership = require_membership(request)
    balance = reports.balance(membership.team)
    packs = [
        {
            "name": pack.name,
            "unit": pack.unit,
            "remaining": str(pack.remaining)
            if pack.unit == Pack.Unit.TOKENS
            else money.exact(pack.remaining),
            "expires": pack.expires_at.isoformat(),
            "models": pack.models_scope or "all",
        }
        for pack in balance.packs
    ]
    return JsonResponse(
        {
            "team": membership.team.name,
            "billing": membership.team.billing,
            "cash_yuan": money.exact(balance.cash_nano),
            "packs": packs,
            "month_spend_yuan": money.exact(balance.month_nano),
            "today_spend_yuan": money.exact(balance.today_nano),
            "unsettled_yuan": money.exact(balance.unsettled.cost_nano),
            "unsettled_calls": balance.unsettled.calls,
            "days_left": balance.days_left,
        }
    )


@require_GET
def site_spend(request):
    """Site staff: every team's and every user's spend, so no spend on the site's key is out of
    sight."""
    if not request.user.is_staff:
        raise PermissionDenied("Site-wide spend is for site admins.")
    form = DateRangeForm(request.GET)
    period = (
        form.cleaned_data["period"]
        if form.is_valid()
        else reports.Period.last_days(DateRangeForm.default_days)
    )
    teams_ = reports.site_teams(period)
    return render(
        request,
        "accounts/site.html",
        {
            "membership": active_membership(request),
            "form": form,
            "period": period,
            "teams": teams_,
            "users": reports.site_users(period),
            "total_nano": sum(row["cost_nano"] for row in teams_),
        },
        status=400 if form.errors else 200,
    )


# --------------------------------------------------------------------------- exports

USAGE_COLUMNS = [
    "time",
    "request_id",
    "user",
    "team",
    "model",
    "source",
    "prompt_tokens",
    "completion_tokens",
    "images",
    "exact",
    "unit_price",
    "cost_yuan",
    "paid_from",
]
CSV_BATCH = 2000


def _unit_price(record: UsageRecord) -> str:
    if record.status != UsageRecord.Status.SETTLED:
        return ""
    if record.price_id is None:
        return "no price"
    if record.images:
        return f"{money.exact(record.image_nano)} per image"
    per_1k_in, per_1k_out = (
        money.exact(record.input_nano * 1000),
        money.exact(record.output_nano * 1000),
    )
    if per_1k_in == per_1k_out:
        return f"{per_1k_in} per 1K tokens"
    return f"in {per_1k_in} / out {per_1k_out} per 1K tokens"


def _paid_from(record: UsageRecord, entries: list[LedgerEntry]) -> str:
    if record.status != UsageRecord.Status.SETTLED:
        return "unsettled"
    parts = [
        f"pack {entry.pack.name} {money.exact(-entry.amount_nano)}"
        + (f" ({entry.tokens} tokens)" if entry.tokens else "")
        if entry.pack_id
        else f"cash {money.exact(-entry.amount_nano)}"
        for entry in entries
    ]
    return "; ".join(parts) or "free"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _formula_safe(value) -> str:
    """A cell a spreadsheet will not run: text that would start a formula gets a leading '
    (OWASP)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_formula_safe(value) for value in values])
    return out.getvalue()


def _usage_batch(records_query, after_id: int) -> list[tuple[UsageRecord, list[LedgerEntry]]]:
    records = list(
        records_query.filter(id__gt=after_id)
        .order_by("id")
        .select_related("user", "team")[:CSV_BATCH]
    )
    entries: dict[int, list[LedgerEntry]] = {}
    for entry in (
        LedgerEntry.objects.filter(usage__in=records).select_related("pack").order_by("id")
    ):
        entries.setdefault(entry.usage_id, []).append(entry)
    return [(record, entries.get(record.id, [])) for record in records]


async def _usage_lines(records_query):
    """Rows a batch at a time (an async iterator: under ASGI a sync one is read whole first)."""
    yield _csv_line(USAGE_COLUMNS)
    last, cost, prompt, completion, images = 0, 0, 0, 0, 0
    while batch := await sync_to_async(_usage_batch)(records_query, last):
        lines = []
        for record, entries in batch:
            settled = record.status == UsageRecord.Status.SETTLED
            lines.append(
                _csv_line(
                    [
                        timezone.localtime(record.created_at).isoformat(),
                        record.request_id,
                        record.user.get_username(),
                        record.team.name,
                        record.model,
                        record.source,
                        record.prompt_tokens,
                        record.completion_tokens,
                        record.images,
                        "exact" if record.exact else "estimated",
                        _unit_price(record),
                        money.exact(record.cost_nano) if settled else "",
                        _paid_from(record, entries),
                    ]
                )
            )
            cost += record.cost_nano if settled else 0
            prompt, completion, images = (
                prompt + record.prompt_tokens,
                completion + record.completion_tokens,
                images + record.images,
            )
            last = record.id
        yield "".join(lines)
    yield _csv_line(
        ["total", "", "", "", "", "", prompt, completion, images, "", "", money.exact(cost), ""]
    )


def _csv_response(lines, filename: str) -> HttpResponse:
    """A CSV download: ``lines`` is the whole text, or an async iterator of it (streamed)."""
    kind = HttpResponse if isinstance(lines, str) else StreamingHttpResponse
    response = kind(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def usage_csv(request):
    membership = require_membership(request)
    form = DateRangeForm(request.GET, required=True)
    if not form.is_valid():
        return HttpResponse(
            form.problems() + "\n", status=400, content_type="text/plain; charset=utf-8"
        )
    period = form.cleaned_data["period"]
    start, end = period.bounds()
    records = UsageRecord.objects.filter(
        team=membership.team, created_at__gte=start, created_at__lt=end
    )
    if not membership.manages:
        records = records.filter(user=request.user)
    return _csv_response(_usage_lines(records), f"usage-{period.start}-{period.end}.csv")


@require_GET
def topups_csv(request):
    membership = require_membership(request)
    rows = [["time", "team", "amount_yuan", "method", "note", "by"]]
    total = 0
    for topup in (
        TopUp.objects.filter(team=membership.team)
        .select_related("created_by")
        .order_by("created_at", "id")
    ):
        rows.append(
            [
                timezone.localtime(topup.created_at).isoformat(),
                membership.team.name,
                money.exact(topup.amount_nano),
                topup.method,
                topup.note,
                topup.created_by.get_username() if topup.created_by else "",
            ]
        )
        total += topup.amount_nano
    rows.append(["total", "", money.exact(total), "", "", ""])
    return _csv_response("".join(_csv_line(row) for row in rows), "topups.csv")


# --------------------------------------------------------------------------- bills


@require_GET
def bills(request):
    membership = require_membership(request)
    months = reports.months_with_usage(membership.team)
    return render(request, "accounts/bills.html", {"membership": membership, "months": months})


@require_GET
def bill(request, month: str):
    membership = require_membership(request)
    first = month_of(month)
    if first is None:
        return render(
            request,
            "400.html",
            {
                "reason": f"“{month}” is not a month from {FIRST_DAY:%Y-%m} to "
                f"{LAST_DAY:%Y-%m} (YYYY-MM)."
            },
            status=400,
        )
    period = reports.Period.month(first.year, first.month)
    filters = reports.Filters(period=period, user_id=reports.visible_user_id(membership, None))
    rows = reports.rollups(membership.team, filters)
    return render(
        request,
        "accounts/bill.html",
        {
            "membership": membership,
            "team": membership.team,
            "period": period,
            "first": first,
            "totals": reports.totals(rows),
            "per_model": reports.by_model(rows),
            "members": reports.by_member(rows),
            "daily": reports.daily(rows),
        },
    )


# --------------------------------------------------------------------------- pricing


def _rerate(team, period: reports.Period) -> list[dict]:
    """Per model: what the period was charged, and what it would cost at today's prices."""
    start, end = period.bounds()
    records = UsageRecord.objects.filter(
        team=team, status=UsageRecord.Status.SETTLED, created_at__gte=start, created_at__lt=end
    )
    grouped = records.values("model", "size").annotate(
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        images=Sum("images"),
        charged=Sum("cost_nano"),
    )
    book, now, out = PriceBook({row["model"] for row in grouped}), timezone.now(), {}
    for row in grouped:
        probe = UsageRecord(
            model=row["model"],
            size=row["size"],
            prompt_tokens=row["prompt"],
            completion_tokens=row["completion"],
            images=row["images"],
        )
        line = out.setdefault(row["model"], {"model": row["model"], "charged": 0, "today": 0})
        line["charged"] += row["charged"]
        line["today"] += book.charge(probe, now).cost_nano
    lines = sorted(out.values(), key=lambda line: line["model"])
    for line in lines:
        line["difference"] = line["today"] - line["charged"]
    return lines


@require_GET
def pricing(request):
    membership = require_membership(request)
    now = timezone.now()
    book = PriceBook(ModelEntry.objects.values_list("name", flat=True))
    current = [(entry, book.in_force(entry.name, now)) for entry in ModelEntry.objects.all()]
    history = Price.objects.all().order_by("model", "size", "-effective_from")
    form = DateRangeForm(
        request.GET or None,
        required=True,
        initial={"start": reports.Period.last_days(30).start, "end": timezone.localdate()},
    )
    rerate = None
    if form.is_valid():
        period = form.cleaned_data["period"]
        lines = _rerate(membership.team, period)
        rerate = {
            "period": period,
            "lines": lines,
            "charged": sum(line["charged"] for line in lines),
            "today": sum(line["today"] for line in lines),
        }
    return render(
        request,
        "accounts/pricing.html",
        {
            "membership": membership,
            "current": current,
            "history": history,
            "form": form,
            "rerate": rerate,
            "unpriced": reports.unpriced_calls(membership.team),
        },
        status=400 if form.errors else 200,
    )


# --------------------------------------------------------------------------- top-ups

MONEY_IS_STAFFS = (
    "Every call here is paid with the site's BigModel key, so cash and billing modes are the site "
    "admins' to change."
)


def _may_top_up(request, membership) -> bool:
    return teams.may_manage_money(user=request.user, membership=membership)


@require_http_methods(["GET", "POST"])
def topups(request):
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


# --------------------------------------------------------------------------- team


def _team_page(request, membership, **extra):
    team = membership.team
    roles = _grantable_roles(membership)
    add_form, invite_form = extra.pop("add_form", AddMemberForm()), InviteForm()
    add_form.fields["role"].choices = invite_form.fields["role"].choices = roles
    members = _member_rows(membership, Membership.objects.filter(team=team).select_related("user"))
    return render(
        request,
        "accounts/team.html",
        {
            "membership": membership,
            "team": team,
            "members": members,
            "packs": Pack.objects.filter(team=team).order_by("expired", "expires_at"),
            "add_form": add_form,
            "invite_form": invite_form,
            "billing_form": BillingForm(initial={"billing": team.billing}),
            "may_manage_money": teams.may_manage_money(user=request.user, membership=membership),
            "new_team_form": extra.pop("new_team_form", NewTeamForm()),
            "may_create_team": teams.personal_team_allowed(user=request.user),
            "roles": roles,
            **extra,
        },
    )


def _member_rows(viewer: Membership, members) -> list[Membership]:
    """Members with what their row shows: this month's spend, and whether the viewer may change it
    (an owner's row is the owners' to change)."""
    spends = reports.member_spends(viewer.team)
    rows = list(members)
    for member in rows:
        member.editable = viewer.manages and (
            member.role != Membership.Role.OWNER or viewer.role == Membership.Role.OWNER
        )
        member.month_nano = spends.get(member.user_id, 0)
        cap = member.monthly_cap_nano
        member.cap_percent = (
            min(100, member.month_nano * 100 // cap) if cap else (100 if cap == 0 else None)
        )
    return rows


def _member_row(
    request, manager: Membership, member: Membership, *, form=None, saved: str = "", status=200
):
    """One member's row of the Team page, as htmx swaps it in after a change."""
    row = _member_rows(manager, [member])[0]
    return render(
        request,
        "accounts/team.html#member-row",
        {
            "m": row,
            "membership": manager,
            "team": manager.team,
            "roles": _grantable_roles(manager),
            "row_form": form,
            "saved": saved,
        },
        status=status,
    )


def _grantable_roles(membership: Membership) -> list[tuple[str, str]]:
    """The roles this member may hand out: an owner's only from an owner."""
    return [
        (value, label)
        for value, label in Membership.Role.choices
        if value != Membership.Role.OWNER or membership.role == Membership.Role.OWNER
    ]


@require_GET
def team(request):
    return _team_page(request, require_membership(request))


def _run(request, action) -> None:
    try:
        action()
    except teams.TeamError as problem:
        messages.error(request, str(problem))


@require_POST
def team_add(request):
    membership = _manager(request)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        return _team_page(request, membership, add_form=form)
    _run(
        request,
        lambda: teams.member_add(
            team=membership.team, user=form.user, role=form.cleaned_data["role"], by=membership
        ),
    )
    return redirect("accounts:team")


@require_POST
def team_invite(request):
    membership = _manager(request)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return redirect("accounts:team")
    try:
        invite, token = teams.invite_create(
            team=membership.team, role=form.cleaned_data["role"], by=membership
        )
    except teams.TeamError as problem:
        messages.error(request, str(problem))
        return redirect("accounts:team")
    link = request.build_absolute_uri(reverse("accounts:invite", args=[token]))
    return _team_page(request, membership, invite_link=link, invite=invite)


@require_POST
def team_member(request, membership_id: int):
    """A member's role and cap. htmx gets the row back, saying what was saved or what is wrong, next
    to the field; a plain form post goes back to the page."""
    manager = _manager(request)
    member = team_for_member(team=manager.team, membership_id=membership_id)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data["role"] != member.role:
                teams.member_set_role(membership=member, role=form.cleaned_data["role"], by=manager)
            teams.member_set_cap(membership=member, cap_nano=form.cleaned_data["cap"], by=manager)
        except teams.TeamError as problem:
            form.add_error(None, str(problem))
    name = member.user.get_username()
    if not request.htmx:
        if form.errors:
            messages.error(request, f"{name}: {form.problems()}")
        else:
            messages.success(request, f"Saved {name}'s role and cap.")
        return redirect("accounts:team")
    member.refresh_from_db()
    if form.errors:
        return _member_row(request, manager, member, form=form)
    return _member_row(
        request,
        manager,
        member,
        saved=f"Saved: {member.role}, "
        + (
            f"cap {money.yuan(member.monthly_cap_nano)} a month"
            if member.monthly_cap_nano is not None
            else "no cap"
        ),
    )


@require_POST
def team_remove(request, membership_id: int):
    manager = _manager(request)
    member = team_for_member(team=manager.team, membership_id=membership_id)
    _run(request, lambda: teams.member_remove(membership=member, by=manager))
    return redirect("accounts:team")


@require_POST
def team_billing(request):
    membership = require_membership(request)
    if not teams.may_manage_money(user=request.user, membership=membership):
        raise PermissionDenied(MONEY_IS_STAFFS)
    form = BillingForm(request.POST)
    if form.is_valid():
        teams.team_set_billing(team=membership.team, billing=form.cleaned_data["billing"])
    return redirect("accounts:team")


@require_POST
def team_create(request):
    form = NewTeamForm(request.POST)
    if not form.is_valid():
        return _team_page(request, require_membership(request), new_team_form=form)
    try:
        team = teams.team_create(name=form.cleaned_data["name"], owner=request.user)
    except teams.TeamError as problem:
        messages.error(request, str(problem))
        return redirect("accounts:team")
    request.session[SESSION_KEY] = team.id
    return redirect("accounts:team")


@require_POST
def team_switch(request):
    membership = get_membership_for_user(user=request.user, team_id=request.POST.get("team"))
    request.session[SESSION_KEY] = membership.team_id
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("accounts:dashboard")
    return redirect(back)


@login_not_required
@require_http_methods(["GET", "POST"])
def invite_accept(request, token: str):
    invite = teams.invite_find(token=token)
    form = AcceptInviteForm(request.POST or None)
    if request.method == "POST" and invite is not None and form.is_valid():
        try:
            user = teams.invite_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
            )
        except teams.TeamError as problem:
            form.add_error(None, str(problem))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_KEY] = invite.team_id
            return redirect("playground:index")
    return render(request, "accounts/invite.html", {"invite": invite, "form": form})


# --------------------------------------------------------------------------- alerts


def _alerts_page(request, membership, *, rule_form=None, channel_form=None, status=200):
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
def alert_page(request):
    return _alerts_page(request, require_membership(request))


@require_POST
def alert_rule_add(request):
    """A refused form comes back with its errors next to its fields; a saved one says so."""
    membership = _manager(request)
    form = RuleForm(request.POST)
    if not form.is_valid():
        return _alerts_page(request, membership, rule_form=form, status=400)
    AlertRule.objects.get_or_create(
        team=membership.team, threshold_nano=form.cleaned_data["threshold"]
    )
    alerts.balance_alerts(team=membership.team)
    messages.success(request, f"Added an alert below {money.yuan(form.cleaned_data['threshold'])}.")
    return redirect("accounts:alerts")


@require_POST
def alert_rule_delete(request, rule_id: int):
    rule = get_object_or_404(AlertRule, team=_manager(request).team, id=rule_id)
    rule.delete()
    messages.success(request, f"Removed the alert below {money.yuan(rule.threshold_nano)}.")
    return redirect("accounts:alerts")


@require_POST
def alert_channel_add(request):
    membership = _manager(request)
    form = ChannelForm(request.POST)
    if not form.is_valid():
        return _alerts_page(request, membership, channel_form=form, status=400)
    channel = AlertChannel.objects.create(
        team=membership.team,
        kind=form.cleaned_data["kind"],
        label=form.cleaned_data["label"],
        target=form.cleaned_data["target"],
    )
    messages.success(request, f"Added the channel {channel}. Send it a test to see it works.")
    return redirect("accounts:alerts")


def _channel(membership, channel_id: int) -> AlertChannel:
    channel = AlertChannel.objects.filter(team=membership.team, id=channel_id).first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


@require_POST
def alert_channel_delete(request, channel_id: int):
    channel = _channel(_manager(request), channel_id)
    channel.delete()
    messages.success(request, f"Removed the channel {channel}.")
    return redirect("accounts:alerts")


@require_POST
def alert_channel_test(request, channel_id: int):
    channel = _channel(_manager(request), channel_id)
    alerts.alert_test(channel=channel)
    messages.success(
        request, f"A test alert is on its way to {channel}; its result shows in the history below."
    )
    return redirect("accounts:alerts")
