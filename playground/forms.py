from django import forms

from accounts.models import ModelEntry
from bigmodel.params import validate_chat_params

PARAM_NAMES = ("temperature", "top_p", "max_tokens", "seed", "do_sample", "stop")


class TurnForm(forms.Form):
    """A chat turn. Field names are exactly the API's parameter names."""

    conversation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    model = forms.CharField(max_length=64)
    system = forms.CharField(required=False, max_length=20000, strip=False)
    message = forms.CharField(max_length=100000, strip=False,
                              error_messages={"required": "Type a message to send."})
    temperature = forms.FloatField(required=False)
    top_p = forms.FloatField(required=False)
    max_tokens = forms.IntegerField(required=False)
    seed = forms.IntegerField(required=False)
    do_sample = forms.BooleanField(required=False)
    stop = forms.CharField(required=False, max_length=64, strip=False)

    def __init__(self, *args, require_message: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["message"].required = require_message
        self.spec = None

    def clean_model(self):
        name = self.cleaned_data["model"]
        entry = ModelEntry.objects.chat().filter(name=name).first()
        if entry is None:
            raise forms.ValidationError(f"“{name}” is not a chat model in the catalogue.")
        self.spec = entry.as_spec()
        return name

    def clean_message(self):
        text = self.cleaned_data.get("message", "")
        if self.fields["message"].required and not text.strip():
            raise forms.ValidationError("Type a message to send.")
        return text

    def clean(self):
        cleaned = super().clean()
        if self.spec is None:
            return cleaned
        for field, problem in validate_chat_params(self.spec, self.params()).items():
            self.add_error(field, problem)
        return cleaned

    def params(self) -> dict:
        """The user's parameters, None where left blank (the model's default applies)."""
        data = self.cleaned_data
        params = {name: data.get(name) for name in PARAM_NAMES}
        params["stop"] = params["stop"] or None
        return params
