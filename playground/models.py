import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.urls import reverse

if TYPE_CHECKING:
    from accounts.models import UsageRecord


class Conversation(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, default="New conversation")
    model = models.CharField(max_length=64)
    system = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not columns: the team its last reply billed, where playground.selectors annotates it.
    billed_team_id: int | None
    billed_team_name: str | None
    billed_personal: int | None

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("playground:conversation", args=[self.public_id])


class Message(models.Model):
    """A turn's message. An assistant message is also the record of its upstream call
    (the generation): status, exact parameters sent, usage and timings."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"  # a function's result, as the user typed it

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        STOPPED = "stopped"
        FAILED = "failed"

    FINAL = (Status.DONE, Status.STOPPED, Status.FAILED)

    # Names the reply's live stream; the browser may choose it, to listen before the reply exists.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    reasoning_content = models.TextField(blank=True, help_text="The model's thinking, if any.")
    sources = models.JSONField(
        default=list, blank=True, help_text="The pages the web_search tool read (title, link…)."
    )
    tool_calls = models.JSONField(
        default=list,
        blank=True,
        help_text="The functions the model called (id, type, function name and arguments).",
    )
    tool_call_id = models.CharField(
        max_length=64, blank=True, help_text="Tool messages: the call this is the result of."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE)
    model = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="The parameters sent upstream.")
    image_urls = models.JSONField(
        default=list, blank=True, help_text="Images given as web links (user messages)."
    )
    request_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who pays for this reply (assistant messages).",
    )
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(default=0, help_text="Of the prompt tokens.")
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text="Of the completion tokens.")
    usage_exact = models.BooleanField(
        default=True, help_text="False when estimated (a stopped reply)."
    )
    finish_reason = models.CharField(max_length=32, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Not columns: looked up once and kept on the instance (playground.selectors.attach_usage,
    # the template tags).
    usage_record: "UsageRecord | None"
    user_message_before: "Message | None"
    tool_results: dict[str, str]  # a reply's function results by call id

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role="assistant") | models.Q(status="done"),
                name="user_messages_are_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def is_live(self) -> bool:
        return not self.is_final


def private_storage() -> Storage:
    """Files only views that check ownership may serve (settings.STORAGES["private"])."""
    return storages["private"]


STORED_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png"}


def _upload_path(attachment: "Attachment", filename: str) -> str:
    """The suffix follows what the file was found to be, never the name it came with."""
    suffix = STORED_SUFFIXES[attachment.content_type]
    return f"uploads/{attachment.owner_id}/{attachment.public_id.hex}{suffix}"


class Attachment(models.Model):
    """An image a user sent with a message, exactly as uploaded. Private to its owner."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team the turn was billed to (the image stays its owner's and staff's only).",
    )
    file = models.FileField(storage=private_storage, upload_to=_upload_path, max_length=255)
    name = models.CharField(max_length=255, help_text="The file's name on the user's machine.")
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField(help_text="Bytes.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("playground:attachment", args=[self.public_id])


def _generated_path(generation: "ImageGeneration", filename: str) -> str:
    return (
        f"generated/{generation.user_id}/{generation.public_id.hex}{Path(filename).suffix.lower()}"
    )


class ImageGeneration(models.Model):
    """One CogView call and the image it made, stored by the app (the upstream link expires)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"  # a worker is calling the upstream
        STORING = "storing"  # generated (and billed); the image is being downloaded
        DONE = "done"
        FAILED = "failed"  # the upstream refused or failed: nothing generated, nothing billed
        UNSTORED = "unstored"  # generated and billed, but the download failed for good

    LIVE = (Status.QUEUED, Status.RUNNING, Status.STORING)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_generations"
    )
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, related_name="+", help_text="Who pays."
    )
    model = models.CharField(max_length=64)
    prompt = models.TextField()
    size = models.CharField(max_length=16, blank=True, help_text="Empty: the model takes no size.")
    quality = models.CharField(
        max_length=16, blank=True, help_text="hd or standard; empty: the model takes no quality."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    request_id = models.CharField(max_length=64, unique=True)
    upstream_url = models.TextField(
        blank=True, help_text="The temporary link; kept only to retry the download."
    )
    task_id = models.CharField(
        max_length=64, blank=True, help_text="The upstream's task, for an image made queued."
    )
    polled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the queued task was last asked about."
    )
    file = models.FileField(
        storage=private_storage, upload_to=_generated_path, max_length=255, blank=True
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    store_attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Not a column: looked up once and kept on the instance (playground.selectors.attach_usage).
    usage_record: "UsageRecord | None"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.model}: {self.prompt[:40]}"

    def get_absolute_url(self) -> str:
        return reverse("playground:image", args=[self.public_id])

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE
