"""TrainingJob on the queued-job base: `worker_host` is the base's `worker` (renamed, rows kept)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0005_foundation_model_name"),
    ]

    operations = [
        migrations.RenameField(model_name="trainingjob", old_name="worker_host", new_name="worker"),
        migrations.AlterField(
            model_name="trainingjob",
            name="worker",
            field=models.CharField(
                blank=True, help_text="host:pid of the process that runs it.", max_length=200
            ),
        ),
    ]
