import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


class Conversation(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, default="New conversation")
    model = models.CharField(max_length=64)
    system = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        STOPPED = "stopped"
        FAILED = "failed"

    FINAL = (Status.DONE, Status.STOPPED, Status.FAILED)

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE)
    model = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="The parameters sent upstream.")
    request_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    usage_exact = models.BooleanField(default=True, help_text="False when estimated (a stopped reply).")
    finish_reason = models.CharField(max_length=32, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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
