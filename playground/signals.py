"""Files go with their rows, however the row goes (a deleted conversation takes its uploads)."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from playground.models import Attachment, ImageGeneration


@receiver(post_delete, sender=Attachment)
@receiver(post_delete, sender=ImageGeneration)
def delete_stored_file(sender, instance, **kwargs) -> None:
    if instance.file:
        name, storage = instance.file.name, instance.file.storage
        transaction.on_commit(lambda: storage.delete(name))  # not before the delete is certain
