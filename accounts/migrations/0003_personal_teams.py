from django.conf import settings
from django.db import migrations


def personal_teams(apps, schema_editor):
    """Users made before teams existed get their personal team now."""
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Team = apps.get_model("accounts", "Team")
    Membership = apps.get_model("accounts", "Membership")
    for user in User.objects.filter(personal_team=None):
        team = Team.objects.create(
            name=user.username, personal_for=user, billing=settings.DEFAULT_TEAM_BILLING
        )
        Membership.objects.create(team=team, user=user, role="owner")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_money"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(personal_teams, migrations.RunPython.noop)]
