from django.db import models


class QueuedCall(models.Model):
    """A chat call sent to BigModel's queue (``async/chat/completions``): its worst case stays held
    until its result is fetched, by its caller or by the sweeper, and recorded once. The
    messages are not kept: what its usage needs of them is kept on its hold."""

    task_id = models.CharField(max_length=64, unique=True, help_text="BigModel's task id.")
    request_id = models.CharField(max_length=64, unique=True, help_text="The ledger's id.")
    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["finished_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model} task {self.task_id}"
