"""Files go with their rows, however the row goes (a deleted conversation takes its uploads)."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from playground.models import Attachment, ImageGeneration


@receiver(post_delete, sender=Attachment)
@receiver(post_delete, sender=ImageGeneration)
def delete_stored_file(
    sender: type[Attachment | ImageGeneration],
    instance: Attachment | ImageGeneration,
    **kwargs: Any,
) -> None:
    if instance.file:
        name, storage = instance.file.name, instance.file.storage
        assert name is not None  # a file that is there has a name
        transaction.on_commit(lambda: storage.delete(name))  # not before the delete is certain
