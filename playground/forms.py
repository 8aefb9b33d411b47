import json
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from accounts.models.catalogue import CHAT_KINDS, IMAGE_KINDS
from accounts.services.catalogue import catalogue_spec, catalogue_unpriced
from bigmodel.catalogue import ModelSpec
from bigmodel.images import ImageRejected, check_image, uploads_problem
from bigmodel.params import REASONING_EFFORTS, validate_chat_params
from bigmodel.tools import SEARCH_ENGINES, SEARCH_RECENCY
from playground.services.turns import Upload
from runtime.netcheck import AddressRefused, checked_link

PARAM_NAMES = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "do_sample",
    "stop",
    "thinking",
    "clear_thinking",
    "reasoning_effort",
    "response_format",
)


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Zero or more files under one name (`image`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleImageInput(attrs={"accept": "image/jpeg,image/png"}))
        super().__init__(required=False, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleImageField, self).clean(item, initial) for item in files if item]


def _spec(name: str, kinds: tuple[str, ...], what: str) -> ModelSpec:
    """The spec of the offered model ``name`` of one of ``kinds``, or a form error saying why it
    is not offered."""
    spec = catalogue_spec(name, kinds)
    if spec is not None:
        return spec
    if catalogue_unpriced(name, kinds):
        raise forms.ValidationError(
            f"“{name}” is not offered: it has no price yet. Pick another model."
        )
    raise forms.ValidationError(f"“{name}” is not {what} in the catalogue.")


def _checkable(upload: UploadedFile) -> str | UploadedFile:
    """A path when the upload went to a temp file (no copy in memory), else the file itself."""
    return upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else upload


# The web_search tool's options, as its form fields and its ``web_search`` object name them.
WEB_SEARCH_FIELDS = ("search_engine", "count", "search_recency_filter")


class TurnForm(forms.Form):
    """A chat turn. Field names are exactly the API's parameter names."""

    conversation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    # The reply's name, chosen by the page so it can listen before this request is answered.
    reply = forms.UUIDField(required=False, widget=forms.HiddenInput)
    model = forms.CharField(max_length=64)
    system = forms.CharField(required=False, max_length=20000, strip=False)
    message = forms.CharField(
        max_length=100000, strip=False, error_messages={"required": "Type a message to send."}
    )
    temperature = forms.FloatField(required=False)
    top_p = forms.FloatField(required=False)
    max_tokens = forms.IntegerField(required=False)
    seed = forms.IntegerField(required=False)
    do_sample = forms.BooleanField(required=False)
    stop = forms.CharField(required=False, max_length=64, strip=False)
    thinking = forms.ChoiceField(
        required=False,
        choices=[("", "model default"), ("enabled", "enabled"), ("disabled", "disabled")],
    )
    clear_thinking = forms.NullBooleanField(
        required=False,
        widget=forms.Select(
            choices=[("", "model default (true)"), ("false", "false"), ("true", "true")]
        ),
    )
    reasoning_effort = forms.ChoiceField(
        required=False, choices=[("", "model default"), *((e, e) for e in REASONING_EFFORTS)]
    )
    response_format = forms.ChoiceField(
        required=False, choices=[("", "text"), ("json_object", "json_object")]
    )
    # The web_search tool: on or off, then its options, named as inside ``web_search``.
    web_search = forms.BooleanField(required=False)
    search_engine = forms.ChoiceField(
        required=False, choices=[(name, name) for name in SEARCH_ENGINES]
    )
    count = forms.IntegerField(required=False)
    search_recency_filter = forms.ChoiceField(
        required=False, choices=[(name, name) for name in SEARCH_RECENCY]
    )
    # Function definitions, JSON as the API's ``tools`` takes them (the web_search tool is above).
    tools = forms.CharField(required=False, max_length=50000, widget=forms.Textarea)
    image = MultipleImageField()
    image_urls = forms.CharField(
        required=False,
        max_length=10000,
        widget=forms.Textarea,
        help_text="Links to images, one per line (every GLM-4V model takes them).",
    )

    def __init__(self, *args: Any, require_message: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["message"].required = require_message
        self.spec: ModelSpec | None = None
        self.uploads: list[Upload] = []

    def clean_model(self) -> str:
        self.spec = _spec(self.cleaned_data["model"], CHAT_KINDS, "a chat model")
        return self.spec.name

    def clean_message(self) -> str:
        text = self.cleaned_data.get("message", "")
        if self.fields["message"].required and not text.strip():
            raise forms.ValidationError("Type a message to send.")
        return text

    def clean_tools(self) -> Any:
        text = self.cleaned_data.get("tools", "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"tools is not JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None
        except RecursionError:
            raise forms.ValidationError("tools is nested too deeply to be read.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean() returns cleaned_data
        if self.spec is None:
            return cleaned
        links = [line.strip() for line in (cleaned.get("image_urls") or "").splitlines()]
        cleaned["image_urls"] = links = [link for link in links if link]
        files = cleaned.get("image") or []
        # Counted first: more images than the model takes are refused before any is looked at.
        too_many = uploads_problem(self.spec, new=len(files), links=len(links))
        if too_many:
            self.add_error("image" if files else "image_urls", too_many)
        for field, problem in validate_chat_params(self.spec, self.params()).items():
            self.add_error(field, problem)
        if not too_many:
            self._check_links(links)
            self._check_images(files)
        return cleaned

    def _check_links(self, links: list[str]) -> None:
        """Each link's form only: BigModel fetches it from its own network, so it is not looked
        up here (runtime.netcheck.checked_link)."""
        for link in links:
            try:
                checked_link(link, schemes=("https", "http"))
            except AddressRefused as refused:
                self.add_error("image_urls", f"“{link[:80]}”: {refused}")

    def _check_images(self, files: list[UploadedFile]) -> None:
        """Each file decoded and held to the model's limits before anything is sent."""
        self.uploads = []
        assert self.spec is not None  # clean() checks it first
        limits = self.spec.images
        for upload in files:
            assert limits is not None  # a model reading no images got a problem above
            try:
                info = check_image(_checkable(upload), limits, name=f"“{upload.name}”")
            except ImageRejected as rejected:
                self.add_error("image", str(rejected))
            else:
                self.uploads.append(Upload(file=upload, info=info))

    def params(self) -> dict:
        """The user's parameters, None where left blank (the model's default applies)."""
        data = self.cleaned_data
        params = {name: data.get(name) for name in PARAM_NAMES}
        for name in ("stop", "thinking", "reasoning_effort", "response_format"):
            params[name] = params[name] or None  # blank: not sent
        params["web_search"] = self._web_search() if data.get("web_search") else None
        params["tools"] = data.get("tools")
        return params

    def _web_search(self) -> dict:
        """The options set (blank ones are the API's defaults, so not sent)."""
        options = {name: self.cleaned_data.get(name) for name in WEB_SEARCH_FIELDS}
        return {name: value for name, value in options.items() if value not in (None, "")}


class ImageForm(forms.Form):
    """A CogView generation. Field names are the API's."""

    model = forms.CharField(max_length=64)
    prompt = forms.CharField(
        max_length=10000, error_messages={"required": "Describe the image to generate."}
    )
    size = forms.CharField(required=False, max_length=16)
    quality = forms.CharField(required=False, max_length=16)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec: ModelSpec | None = None

    def clean_model(self) -> str:
        self.spec = _spec(self.cleaned_data["model"], IMAGE_KINDS, "an image model")
        return self.spec.name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean() returns cleaned_data
        if self.spec is None:
            return cleaned
        prompt = cleaned.get("prompt") or ""
        limit = self.spec.prompt_max_chars
        if limit and len(prompt) > limit:
            self.add_error(
                "prompt",
                f"The prompt is {len(prompt)} characters; {self.spec.label} takes at most {limit}.",
            )
        label = self.spec.label
        sizes, qualities = self.spec.sizes, self.spec.qualities
        self._offered(
            "size", sizes, self.spec.default_size, f"{label} makes these sizes: {', '.join(sizes)}."
        )
        self._offered(
            "quality",
            qualities,
            self.spec.default_quality,
            f"{label} takes quality {' or '.join(qualities)}.",
        )
        return cleaned

    def _offered(self, name: str, offered: tuple[str, ...], default: str, problem: str) -> None:
        """A choice among what the model offers: blank is its default; a model that offers none
        is sent none."""
        value = self.cleaned_data.get(name) or ""
        if not offered:
            self.cleaned_data[name] = ""
        elif not value:
            self.cleaned_data[name] = default
        elif value not in offered:
            self.add_error(name, problem)
