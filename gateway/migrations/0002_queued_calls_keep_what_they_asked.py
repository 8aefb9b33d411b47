from django.db import migrations, models


def asked_from_engine(apps, schema_editor):
    """A call queued before: its prompt was not kept, its search engine was."""
    QueuedCall = apps.get_model("gateway", "QueuedCall")
    for call in QueuedCall.objects.all():
        call.asked = {"prompt": 0, "engine": call.search_engine}
        call.save(update_fields=["asked"])


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="queuedcall",
            name="asked",
            field=models.JSONField(default=dict, help_text="What the call asked, for its usage."),
        ),
        migrations.RunPython(asked_from_engine, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="queuedcall",
            name="search_engine",
        ),
    ]
