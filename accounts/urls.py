from django.urls import path

from accounts.views import alerts, bills, dashboard, exports, keys, pricing, team, topups

app_name = "accounts"
urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("summary.json", dashboard.summary_json, name="summary"),
    path("site/", dashboard.site_spend, name="site"),
    path("usage.csv", exports.usage_csv, name="usage_csv"),
    path("topups.csv", exports.topups_csv, name="topups_csv"),
    path("bills/", bills.bills, name="bills"),
    path("bills/<str:month>/", bills.bill, name="bill"),
    path("pricing/", pricing.pricing, name="pricing"),
    path("topups/", topups.topups, name="topups"),
    path("team/", team.team, name="team"),
    path("team/add/", team.team_add, name="team_add"),
    path("team/invite/", team.team_invite, name="team_invite"),
    path("team/members/<int:membership_id>/", team.team_member, name="team_member"),
    path("team/members/<int:membership_id>/remove/", team.team_remove, name="team_remove"),
    path("team/billing/", team.team_billing, name="team_billing"),
    path("team/new/", team.team_create, name="team_create"),
    path("team/switch/", team.team_switch, name="team_switch"),
    path("invite/<str:token>/", team.invite_accept, name="invite"),
    path("keys/", keys.keys, name="keys"),
    path("keys/new/", keys.make, name="key_add"),
    path("keys/<int:key_id>/revoke/", keys.revoke, name="key_revoke"),
    path("keys/<int:key_id>/rotate/", keys.rotate, name="key_rotate"),
    path("alerts/", alerts.alert_page, name="alerts"),
    path("alerts/rules/", alerts.alert_rule_add, name="alert_rule_add"),
    path("alerts/rules/<int:rule_id>/delete/", alerts.alert_rule_delete, name="alert_rule_delete"),
    path("alerts/channels/", alerts.alert_channel_add, name="alert_channel_add"),
    path(
        "alerts/channels/<int:channel_id>/delete/",
        alerts.alert_channel_delete,
        name="alert_channel_delete",
    ),
    path(
        "alerts/channels/<int:channel_id>/test/",
        alerts.alert_channel_test,
        name="alert_channel_test",
    ),
]
