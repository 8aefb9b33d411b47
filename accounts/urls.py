from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("summary.json", views.summary_json, name="summary"),
    path("site/", views.site_spend, name="site"),
    path("usage.csv", views.usage_csv, name="usage_csv"),
    path("topups.csv", views.topups_csv, name="topups_csv"),
    path("bills/", views.bills, name="bills"),
    path("bills/<str:month>/", views.bill, name="bill"),
    path("pricing/", views.pricing, name="pricing"),
    path("topups/", views.topups, name="topups"),
    path("team/", views.team, name="team"),
    path("team/add/", views.team_add, name="team_add"),
    path("team/invite/", views.team_invite, name="team_invite"),
    path("team/members/<int:membership_id>/", views.team_member, name="team_member"),
    path("team/members/<int:membership_id>/remove/", views.team_remove, name="team_remove"),
    path("team/billing/", views.team_billing, name="team_billing"),
    path("team/new/", views.team_create, name="team_create"),
    path("team/switch/", views.team_switch, name="team_switch"),
    path("invite/<str:token>/", views.invite_accept, name="invite"),
    path("alerts/", views.alert_page, name="alerts"),
    path("alerts/rules/", views.alert_rule_add, name="alert_rule_add"),
    path("alerts/rules/<int:rule_id>/delete/", views.alert_rule_delete, name="alert_rule_delete"),
    path("alerts/channels/", views.alert_channel_add, name="alert_channel_add"),
    path(
        "alerts/channels/<int:channel_id>/delete/",
        views.alert_channel_delete,
        name="alert_channel_delete",
    ),
    path(
        "alerts/channels/<int:channel_id>/test/",
        views.alert_channel_test,
        name="alert_channel_test",
    ),
]
