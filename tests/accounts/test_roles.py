"""No role grants more than it has, by any path; a team always keeps an owner; and the site's money
cannot be spent past what was allowed by moving to a team nobody funded."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections
from django.test import Client

from accounts.models import Invite, Membership, Team
from accounts.services.teams import TeamError, member_add, member_set_cap, member_set_role
from tests.accounts.conftest import record
from tests.support import owner_of

pytestmark = pytest.mark.usefixtures("prices")


def client_for(user, team=None) -> Client:
    client = Client()
    client.force_login(user)
    if team is not None:
        assert client.post("/accounts/team/switch/", {"team": team.id}).status_code == 302
    return client


@pytest.fixture
def lab(alice, bob):
    """alice owns Lab; bob is its admin; carol a member."""
    team = Team.objects.create(name="Lab", billing="postpaid")
    Membership.objects.create(team=team, user=alice, role="owner")
    Membership.objects.create(team=team, user=bob, role="admin")
    Membership.objects.create(
        team=team, user=get_user_model().objects.create_user("carol"), role="member"
    )
    return team


def role_of(team, username) -> str:
    return Membership.objects.get(team=team, user__username=username).role


def test_an_admin_cannot_make_an_owner_by_any_path(lab, bob):
    admin = client_for(bob, lab)
    dave = get_user_model().objects.create_user("dave")
    admin.post("/accounts/team/add/", {"username": "dave", "role": "owner"})
    assert not Membership.objects.filter(team=lab, user=dave).exists()
    carol = Membership.objects.get(team=lab, user__username="carol")
    admin.post(f"/accounts/team/members/{carol.id}/", {"role": "owner", "cap": ""})
    assert role_of(lab, "carol") == "member"
    page = admin.post("/accounts/team/invite/", {"role": "owner"}, follow=True).content.decode()
    assert "Only an owner can invite an owner." in page and not Invite.objects.exists()
    assert 'value="owner"' not in admin.get("/accounts/team/").content.decode()  # not even offered


def test_an_admin_cannot_touch_an_owner_or_another_admins_cap(lab, alice, bob):
    admin = client_for(bob, lab)
    owner = Membership.objects.get(team=lab, user=alice)
    admin.post(f"/accounts/team/members/{owner.id}/", {"role": "member", "cap": "0"})
    admin.post(f"/accounts/team/members/{owner.id}/remove/")
    owner.refresh_from_db()
    assert (owner.role, owner.monthly_cap_nano) == ("owner", None)
    me = Membership.objects.get(team=lab, user=bob)
    page = admin.post(
        f"/accounts/team/members/{me.id}/", {"role": "admin", "cap": "1000"}, follow=True
    )
    assert "Only an owner can change the cap of an admin." in page.content.decode()
    carol = Membership.objects.get(team=lab, user__username="carol")
    admin.post(f"/accounts/team/members/{carol.id}/", {"role": "member", "cap": "0.5"})
    carol.refresh_from_db()
    assert carol.monthly_cap_nano == 500_000_000  # members' caps are the admins' to set


def test_the_issues_escalation_an_invited_owner_demoting_the_real_one_is_closed(lab, alice, bob):
    """An admin invited someone as owner, who then demoted the real owner and capped them at 0."""
    client_for(bob, lab).post("/accounts/team/invite/", {"role": "owner"})
    assert not Invite.objects.filter(role="owner").exists()
    member_add(
        team=lab,
        user=get_user_model().objects.create_user("mallory"),
        role="member",
        by=owner_of(lab),
    )
    mallory = Membership.objects.get(team=lab, user__username="mallory")
    with pytest.raises(TeamError):
        member_set_role(
            membership=Membership.objects.get(team=lab, user=alice), role="member", by=mallory
        )
    with pytest.raises(TeamError):
        member_set_cap(
            membership=Membership.objects.get(team=lab, user=alice), cap_nano=0, by=mallory
        )


def test_two_owners_demoting_each_other_at_once_leave_one(transactional_db, prices):
    users = [get_user_model().objects.create_user(name) for name in ("ann", "ben")]
    team = Team.objects.create(name="Pair", billing="postpaid")
    ann, ben = (Membership.objects.create(team=team, user=user, role="owner") for user in users)
    barrier, outcomes = threading.Barrier(2), []

    def demote(target, by):
        barrier.wait()
        try:
            member_set_role(
                membership=Membership.objects.get(id=target.id),
                role="admin",
                by=Membership.objects.get(id=by.id),
            )
            outcomes.append("demoted")
        except TeamError as refusal:
            outcomes.append(str(refusal))
        finally:
            close_old_connections()

    threads = [
        threading.Thread(target=demote, args=(ann, ben)),
        threading.Thread(target=demote, args=(ben, ann)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Membership.objects.filter(team=team, role="owner").count() == 1
    assert outcomes.count("demoted") == 1 and len(outcomes) == 2


def test_a_capped_member_cannot_move_to_an_unfunded_team_or_fund_it(lab, bob, settings):
    """The way round that was found: refused by the cap in a shared team, switch the header to one's
    own personal team (postpaid, no cap), and top it up by ¥1,000."""
    settings.PERSONAL_TEAM_BILLING = "prepaid"  # the shipped default
    carol = get_user_model().objects.get(username="carol")
    Team.objects.filter(personal_for=carol).update(
        billing="prepaid"
    )  # made before the setting changed
    member = Membership.objects.get(team=lab, user=carol)
    member_set_cap(membership=member, cap_nano=100_000_000, by=owner_of(lab))  # ¥0.10
    record(carol, lab, prompt=1000)  # ¥0.10 spent: at the cap
    shared = client_for(carol, lab)
    refused = shared.post("/playground/send/", {"model": "glm-4", "message": "More"})
    assert "left of your monthly cap" in refused.content.decode()

    own = client_for(carol, carol.personal_team)
    refused = own.post("/playground/send/", {"model": "glm-4", "message": "More"})
    assert "cannot cover this call" in refused.content.decode()
    assert own.post("/accounts/topups/", {"amount": "1000", "method": "bank"}).status_code == 403
    assert own.post("/accounts/team/billing/", {"billing": "postpaid"}).status_code == 403
    new = own.post("/accounts/team/new/", {"name": "Mine"}, follow=True)
    assert Team.objects.get(name="Mine").billing == "prepaid" and new.status_code == 200


def test_personal_teams_follow_their_own_billing_and_can_be_switched_off(settings):
    settings.PERSONAL_TEAM_BILLING, settings.DEFAULT_TEAM_BILLING = "prepaid", "postpaid"
    User = get_user_model()
    assert User.objects.create_user("newcomer").personal_team.billing == "prepaid"
    assert (
        User.objects.create_superuser("boss", password="boss-password-1").personal_team.billing
        == "postpaid"
    )
    settings.PERSONAL_TEAMS = False
    loner = User.objects.create_user("loner")
    assert not Team.objects.filter(personal_for=loner).exists()
    client = client_for(loner)
    refused = client.post("/playground/send/", {"model": "glm-4-flash", "message": "Hello"})
    assert "You are not in a team yet" in refused.content.decode()
    assert client.get("/accounts/").status_code == 403
    assert client.post("/accounts/team/new/", {"name": "Own"}).status_code in (302, 403)
    assert not Team.objects.filter(name="Own").exists()


def test_staff_see_every_teams_and_every_users_spend(lab, alice, bob):
    record(alice, lab, prompt=1000)  # ¥0.10 in Lab
    record(bob, bob.personal_team, prompt=500)  # ¥0.05 in bob's own team
    record(bob, lab, prompt=200)  # ¥0.02 in Lab
    from accounts.services import settlement

    while settlement.usage_settle_pending():
        pass
    assert client_for(alice).get("/accounts/site/").status_code == 403
    staff = get_user_model().objects.create_user("root", is_staff=True)
    page = client_for(staff).get("/accounts/site/").content.decode()
    assert 'data-total="170000000"' in page
    assert f'data-team="{lab.id}"' in page and 'data-spend="120000000"' in page
    users = page.split('id="site-users"')[1]
    assert users.index(">alice<") < users.index(">bob<")  # ¥0.10 before ¥0.07
    assert 'data-spend="70000000"' in users and "Lab ¥0.0200" in users and "bob ¥0.0500" in users
