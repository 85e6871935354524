# The Django model BaseModel is now FoundationModel (it read as an abstract base); its table keeps its name.
from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0004_scaleout_routing"),
        ("datasets_app", "0003_validation_heartbeat"),
        ("federation", "0002_job_heartbeats"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelTable(name="basemodel", table="training_basemodel"),
        migrations.RenameModel(old_name="BaseModel", new_name="FoundationModel"),
        migrations.AlterModelOptions(
            name="foundationmodel", options={"ordering": ["is_tiny", "name"], "verbose_name": "base model"}
        ),
    ]
