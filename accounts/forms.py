from datetime import date

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

from accounts import money
from accounts.models import AlertChannel, Membership, Team, TopUp


class YuanField(forms.CharField):
    """An amount of yuan, cleaned to nano (an int). Exact: no floats."""

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        kwargs.setdefault("max_length", 24)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in ("", None):
            return None
        try:
            nano = money.to_nano(value)
        except ValueError as problem:
            raise forms.ValidationError(str(problem)) from None
        if nano < 0 or (nano == 0 and not self.allow_zero):
            raise forms.ValidationError("Enter an amount above zero." if not self.allow_zero else
                                        "Enter zero or more.")
        return nano


class PeriodForm(forms.Form):
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    member = forms.IntegerField(required=False)
    model = forms.CharField(required=False, max_length=64)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The start comes after the end.")
        if start and end and (end - start).days > 366:
            raise forms.ValidationError("Pick at most a year at a time.")
        return cleaned


class CsvPeriodForm(forms.Form):
    start = forms.DateField(error_messages={"required": "Give start=YYYY-MM-DD.",
                                            "invalid": "start must be a date, YYYY-MM-DD."})
    end = forms.DateField(error_messages={"required": "Give end=YYYY-MM-DD.",
                                          "invalid": "end must be a date, YYYY-MM-DD."})

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["start"] > cleaned["end"]:
            raise forms.ValidationError("The start comes after the end.")
        return cleaned


class TopUpForm(forms.Form):
    amount = YuanField(label="Amount (¥)")
    method = forms.ChoiceField(choices=TopUp.Method.choices, initial=TopUp.Method.BANK)
    note = forms.CharField(required=False, max_length=300)


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def clean_username(self):
        username = self.cleaned_data["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"There is no user “{username}”; send them an invite link instead.")
        self.user = user
        return username


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class MemberForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
    cap = YuanField(required=False, allow_zero=True, label="Monthly cap (¥)")


class BillingForm(forms.Form):
    billing = forms.ChoiceField(choices=Team.Billing.choices)


class NewTeamForm(forms.Form):
    name = forms.CharField(max_length=100)


class AcceptInviteForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
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
    target = forms.CharField(max_length=500)

    def clean(self):
        cleaned = super().clean()
        kind, target = cleaned.get("kind"), (cleaned.get("target") or "").strip()
        if kind == AlertChannel.Kind.EMAIL:
            forms.EmailField().clean(target)
        elif kind:
            forms.URLField(error_messages={"invalid": "Enter the webhook's full URL (https://…)."}).clean(target)
        cleaned["target"] = target
        return cleaned


class RerateForm(forms.Form):
    start = forms.DateField()
    end = forms.DateField()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["start"] > cleaned["end"]:
            raise forms.ValidationError("The start comes after the end.")
        return cleaned


def month_of(value: str) -> date | None:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        return None
