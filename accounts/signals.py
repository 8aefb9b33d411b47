from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import ApiKey, Membership, ModelEntry, Price, PriceTier, Team
from accounts.services.teams import personal_team_allowed, team_ensure_personal
from runtime.kept import kept_changed

# Prices, the catalogue and API keys with who they bill are kept in each process (runtime.kept): a
# change reads them again.
KEPT_MODELS = (Price, PriceTier, ModelEntry, ApiKey, Membership, Team)
for kept_model in KEPT_MODELS:
    post_save.connect(kept_changed, sender=kept_model)
for gone in (*KEPT_MODELS, get_user_model()):  # a user saved: user_changed below
    post_delete.connect(kept_changed, sender=gone)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_changed(
    sender: type[User], update_fields: frozenset[str] | None = None, **kwargs: Any
) -> None:
    """A user saved changes what is kept, unless only their last login was (every login)."""
    if update_fields != {"last_login"}:
        kept_changed()


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def personal_team(
    sender: type[User], instance: User, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """Every user gets a team named after them, made with the user (however the user is made),
    unless personal teams are switched off (PERSONAL_TEAMS=0; site staff still get theirs)."""
    if created and not raw and personal_team_allowed(user=instance):
        team_ensure_personal(user=instance)


@receiver(user_logged_in)
def personal_team_at_login(
    sender: type[User], request: HttpRequest, user: User, **kwargs: Any
) -> None:
    """A user from before personal teams (or before PERSONAL_TEAMS was switched on) gets theirs
    when they log in."""
    if personal_team_allowed(user=user) and not user.memberships.exists():
        team_ensure_personal(user=user)
