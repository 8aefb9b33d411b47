from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.services.teams import team_ensure_personal


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def personal_team(sender, instance, created, raw=False, **kwargs) -> None:
    """Every user gets a team named after them, made with the user (however the user is made)."""
    if created and not raw:
        team_ensure_personal(user=instance)
