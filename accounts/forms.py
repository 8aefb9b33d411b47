from datetime import date
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils import timezone

from accounts import money
from accounts.models import AlertChannel, ApiKey, Membership, ModelEntry, Team, TopUp
from accounts.reports import Period
from accounts.webhooks import WebhookRefused, webhook_target


class YuanField(forms.CharField):
    """An amount of yuan, cleaned to nano (an int). Exact: no floats."""

    def __init__(self, *, allow_zero: bool = False, **kwargs: Any) -> None:
        self.allow_zero = allow_zero
        kwargs.setdefault("max_length", 24)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> int | None:
        value = super().clean(value)
        if value in ("", None):
            return None
        try:
            nano = money.to_nano(value)
        except ValueError as problem:
            raise forms.ValidationError(str(problem)) from None
        if nano < 0 or (nano == 0 and not self.allow_zero):
            raise forms.ValidationError(
                "Enter an amount above zero." if not self.allow_zero else "Enter zero or more."
            )
        return nano


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
MAX_PERIOD_DAYS = 366


class DateRangeForm(forms.Form):
    """``start`` and ``end`` (whole local days, both included), defaulted, then held to one rule
    wherever a period is asked for: in order, within 2000–2100, at most 366 days. ``period`` is the
    result in ``cleaned_data``."""

    start = forms.DateField(
        required=False, error_messages={"invalid": "start must be a date, YYYY-MM-DD."}
    )
    end = forms.DateField(
        required=False, error_messages={"invalid": "end must be a date, YYYY-MM-DD."}
    )
    default_days = 30

    def __init__(self, *args: Any, required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("start", "end"):
            self.fields[name].required = required
            self.fields[name].error_messages["required"] = f"Give {name}=YYYY-MM-DD."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Django's Form.clean returns its cleaned_data
        if self.errors:
            return cleaned
        default = Period.last_days(self.default_days)
        start, end = cleaned.get("start") or default.start, cleaned.get("end") or default.end
        if not (FIRST_DAY <= start <= LAST_DAY and FIRST_DAY <= end <= LAST_DAY):
            raise forms.ValidationError(f"Dates go from {FIRST_DAY} to {LAST_DAY}.")
        if start > end:
            raise forms.ValidationError("The start comes after the end.")
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise forms.ValidationError(f"Pick at most {MAX_PERIOD_DAYS} days at a time.")
        cleaned["start"], cleaned["end"], cleaned["period"] = start, end, Period(start, end)
        return cleaned

    def problems(self) -> str:
        return " ".join(str(error) for errors in self.errors.values() for error in errors)


class PeriodForm(DateRangeForm):
    member = forms.IntegerField(required=False)
    model = forms.CharField(required=False, max_length=64)
    # "playground", "api", or an API key's id; blank: all.
    source = forms.CharField(required=False, max_length=20)


class TopUpForm(forms.Form):
    amount = YuanField(label="Amount (¥)")
    method = forms.ChoiceField(choices=TopUp.Method.choices, initial=TopUp.Method.BANK)
    note = forms.CharField(required=False, max_length=300)


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(
                f"There is no user “{username}”; send them an invite link instead."
            )
        self.user = user
        return username


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class MemberForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
    cap = YuanField(required=False, allow_zero=True, label="Monthly cap (¥)")

    def problems(self) -> str:
        return " ".join(str(error) for errors in self.errors.values() for error in errors)


class BillingForm(forms.Form):
    billing = forms.ChoiceField(choices=Team.Billing.choices)


class NewTeamForm(forms.Form):
    name = forms.CharField(max_length=100)


class AcceptInviteForm(forms.Form):
    username = forms.CharField(  # Django's own rule for usernames
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Django's Form.clean returns its cleaned_data
        if cleaned.get("password"):
            user = get_user_model()(username=cleaned.get("username", ""))
            try:
                validate_password(cleaned["password"], user)
            except forms.ValidationError as problems:
                self.add_error("password", problems)
        return cleaned


class RuleForm(forms.Form):
    threshold = YuanField(label="Alert below (¥)", allow_zero=True)


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=AlertChannel.Kind.choices)
    label = forms.CharField(max_length=60, required=False)
    target = forms.CharField(max_length=500)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Django's Form.clean returns its cleaned_data
        kind, target = cleaned.get("kind"), (cleaned.get("target") or "").strip()
        if kind == AlertChannel.Kind.EMAIL:
            forms.EmailField().clean(target)
        elif kind:
            forms.URLField(
                error_messages={"invalid": "Enter the webhook's full URL (https://…)."}
            ).clean(target)
            try:
                webhook_target(target)
            except WebhookRefused as refused:
                raise forms.ValidationError({"target": str(refused)}) from None
        cleaned["target"] = target
        return cleaned


def month_of(value: str) -> date | None:
    """The first day of a "YYYY-MM" month within the years periods may span, or None."""
    try:
        year, month = (int(part) for part in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        return None
    return first if FIRST_DAY <= first <= LAST_DAY else None


class KeyForm(forms.Form):
    """A new API key: a name, the models it may call (blank: all), a budget per day, week or month
    (blank: none), requests per minute and calls at once (blank: no limit), the last day it
    works."""

    name = forms.CharField(max_length=100)
    models = forms.CharField(required=False, max_length=2000)
    budget = YuanField(required=False)
    period = forms.ChoiceField(choices=ApiKey.Period.choices, initial=ApiKey.Period.MONTH)
    rpm = forms.IntegerField(required=False, min_value=1, max_value=100_000)
    concurrency = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    expires = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_models(self) -> list[str]:
        names = sorted(
            {name.strip() for name in self.cleaned_data["models"].split(",") if name.strip()}
        )
        known = set(ModelEntry.objects.chat().filter(name__in=names).values_list("name", flat=True))
        if unknown := [name for name in names if name not in known]:
            raise forms.ValidationError(f"Not chat models in the catalogue: {', '.join(unknown)}.")
        return names

    def clean_expires(self) -> date | None:
        day = self.cleaned_data["expires"]
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("The last day a key works cannot be in the past.")
        return day
