from django.db import migrations, models


class Migration(migrations.Migration):
    """A unique field on existing rows, in Django's three steps: added empty, filled, made
    unique."""

    dependencies = [
        ("playground", "0003_image_links"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="public_id",
            field=models.UUIDField(null=True, editable=False),
        ),
    ]
