from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts import money
from accounts.forms import YuanField
from accounts.models import (
    AlertChannel,
    AlertRule,
    AlertSend,
    Hold,
    Invite,
    LedgerEntry,
    Membership,
    ModelEntry,
    Pack,
    Price,
    PriceTier,
    Team,
    TopUp,
    UsageRecord,
)
from accounts.money import rate_text
from accounts.services.pricing import price_problems
from accounts.services.wallet import wallet_topup
from accounts.templatetags.money import pack_left


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "label", "deprecated", "enabled", "updated_at"]
    list_filter = ["kind", "deprecated", "enabled"]
    search_fields = ["name", "label"]


class PriceTierFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        tiers = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if problems := price_problems(model=self.instance.model, tiers=tiers):
            raise forms.ValidationError(
                [f"{problem[:1].upper()}{problem[1:]}." for problem in problems]
            )


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    formset = PriceTierFormSet
    extra = 0


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    """A change of price is a new row from its date on; past usage keeps what it was charged. Its
    tiers are edited with it, and a set of bands with a gap or an overlap is refused."""

    list_display = [
        "model",
        "size",
        "quality",
        "effective_from",
        "tiers_shown",
        "per_image",
        "confirmed",
    ]
    list_filter = ["model", "confirmed"]
    ordering = ["model", "-effective_from"]
    inlines = [PriceTierInline]

    @admin.display(description="tiers (input / cache hit / output, ¥ per million)")
    def tiers_shown(self, price: Price) -> str:
        return "; ".join(
            f"{tier.label}: {rate_text(tier.input_per_m)} / {rate_text(tier.cached_per_m)} / "
            f"{rate_text(tier.output_per_m)}"
            for tier in price.tiers.all()
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Price]:
        return super().get_queryset(request).prefetch_related("tiers")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "billing", "cash", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    exclude = ["cash_nano"]
    readonly_fields = ["cash"]

    @admin.display(description="cash (¥)")
    def cash(self, team: Team) -> str:
        return money.exact(team.cash_nano)


class TopUpAdminForm(forms.ModelForm):
    amount = YuanField(label="Amount (¥)")

    class Meta:
        model = TopUp
        fields = ["team", "method", "note"]


@admin.register(TopUp)
class TopUpAdmin(admin.ModelAdmin):
    """Top-ups made here go through the same service as the app's: ledger, balance and alerts."""

    form = TopUpAdminForm
    list_display = ["team", "amount", "method", "note", "created_by", "created_at"]
    list_filter = ["method"]

    @admin.display(description="amount (¥)")
    def amount(self, topup: TopUp) -> str:
        return money.exact(topup.amount_nano)

    def has_change_permission(self, request: HttpRequest, obj: TopUp | None = None) -> bool:
        return False  # corrections are new top-ups (or adjustments), never edits

    def save_model(
        self, request: HttpRequest, obj: TopUp, form: TopUpAdminForm, change: bool
    ) -> None:
        saved = wallet_topup(
            team=obj.team,
            amount_nano=form.cleaned_data["amount"],
            method=obj.method,
            note=obj.note,
            by=cast(User, request.user),  # the admin lets signed-in staff in only
        )
        obj.pk = saved.pk


@admin.register(Pack)
class PackAdmin(admin.ModelAdmin):
    """Sizes are tokens, or 10⁻⁹ yuan for a money pack: the list shows both as they read."""

    list_display = ["name", "team", "kind", "unit", "left", "effective_at", "expires_at", "expired"]
    list_filter = ["kind", "unit", "expired"]

    @admin.display(description="left")
    def left(self, pack: Pack) -> str:
        return pack_left(pack)


class ReadOnly(admin.ModelAdmin):
    """The ledger and its records are written by settlement alone: here they are for reading."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def yuan_column(field: str, title: str) -> "Callable[[admin.ModelAdmin[Any], Model], str]":
    @admin.display(description=f"{title} (¥)", ordering=field)
    def column(self: "admin.ModelAdmin[Any]", obj: Model) -> str:
        value = getattr(obj, field)
        return "—" if value is None else money.exact(value)

    return column


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnly):
    list_display = [
        "created_at",
        "request_id",
        "user",
        "team",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "images",
        "exact",
        "status",
        "cost",
        "held",
    ]
    list_filter = ["status", "model", "source", "exact"]
    search_fields = ["request_id"]
    fields = readonly_fields = (
        "request_id",
        "created_at",
        "user",
        "team",
        "model",
        "source",
        "prompt_tokens",
        "completion_tokens",
        "images",
        "size",
        "quality",
        "searches",
        "search_engine",
        "exact",
        "status",
        "settled_at",
        "price",
        "cost",
        "packs",
        "cash",
        "held",
    )
    cost = yuan_column("cost_nano", "cost")
    packs = yuan_column("packs_nano", "paid from packs")
    cash = yuan_column("cash_nano", "paid from cash")
    held = yuan_column("held_nano", "held")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnly):
    list_display = ["created_at", "team", "kind", "amount", "tokens", "pack", "usage"]
    list_filter = ["kind"]
    fields = readonly_fields = (
        "created_at",
        "team",
        "kind",
        "amount",
        "tokens",
        "pack",
        "usage",
        "topup",
    )
    amount = yuan_column("amount_nano", "amount")


@admin.register(Hold)
class HoldAdmin(ReadOnly):
    list_display = ["created_at", "request_id", "user", "team", "model", "amount", "expires_at"]
    fields = readonly_fields = (
        "request_id",
        "created_at",
        "expires_at",
        "user",
        "team",
        "model",
        "source",
        "prompt_tokens",
        "completion_tokens",
        "images",
        "size",
        "quality",
        "searches",
        "search_engine",
        "amount",
    )
    amount = yuan_column("amount_nano", "worst case")


admin.site.register([Membership, Invite, AlertRule, AlertChannel, AlertSend])
