from django.core.management.base import CommandError

from accounts.models import Team


def find_team(name_or_id: str) -> Team:
    """A team by id, by name, or by the username of its personal team."""
    teams = Team.objects.filter(id=int(name_or_id)) if name_or_id.isdigit() else Team.objects.none()
    teams = (
        teams
        or Team.objects.filter(name=name_or_id)
        or Team.objects.filter(personal_for__username=name_or_id)
    )
    found = list(teams[:2])
    if not found:
        raise CommandError(f"No team “{name_or_id}”.")
    if len(found) > 1:
        raise CommandError(
            f"Several teams are called “{name_or_id}”; give its id "
            f"({', '.join(str(t.id) for t in teams)})."
        )
    return found[0]
