from django.conf import settings
from django.db import models


class Team(models.Model):
    """Who pays: a wallet (cash, and packs) shared by its members. Every user has a personal
    team."""

    class Billing(models.TextChoices):
        PREPAID = "prepaid", "Prepaid (refuse calls once nothing can pay)"
        POSTPAID = "postpaid", "Postpaid (track and charge; cash may go negative)"

    name = models.CharField(max_length=100)
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_team",
    )
    billing = models.CharField(max_length=16, choices=Billing.choices)
    cash_nano = models.BigIntegerField(
        default=0, help_text="Cash balance in 10⁻⁹ yuan; may go below zero."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    monthly_cap_nano = models.BigIntegerField(
        null=True, blank=True, help_text="Spending cap per calendar month, 10⁻⁹ yuan; empty: none."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Not columns: set where the team page lists members (accounts.views.team).
    editable: bool
    month_nano: int
    cap_percent: int | None

    class Meta:
        ordering = ["team", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team"),
            models.CheckConstraint(
                condition=models.Q(monthly_cap_nano__gte=0) | models.Q(monthly_cap_nano=None),
                name="cap_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def manages(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Invite(models.Model):
    """A one-time link that makes a new user a member. Only a digest of its token is stored."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    token_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invite to {self.team} as {self.role}"
