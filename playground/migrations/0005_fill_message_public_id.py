import uuid

from django.db import migrations


def give_each_message_an_id(apps, schema_editor):
    Message = apps.get_model("playground", "Message")
    for message in Message.objects.only("id").iterator():
        Message.objects.filter(id=message.id).update(public_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0004_message_public_id"),
    ]

    operations = [
        migrations.RunPython(give_each_message_an_id, migrations.RunPython.noop),
    ]
