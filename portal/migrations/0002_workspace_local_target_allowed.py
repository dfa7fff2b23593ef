from django.db import migrations, models


def grant_where_runs_used_it(apps, schema_editor):
    """Keep the local computer where it was used; remove it where it never ran anything.

    Before this migration every workspace had it: the first one (the one
    ``bootstrap`` made) and those with runs on it keep it, granted."""
    Workspace = apps.get_model("portal", "Workspace")
    ComputeTarget = apps.get_model("compute", "ComputeTarget")
    first = Workspace.objects.order_by("pk").values_list("pk", flat=True).first()
    for target in ComputeTarget.objects.filter(kind="local"):
        if target.workspace_id == first or target.runs.exists():
            Workspace.objects.filter(pk=target.workspace_id).update(local_target_allowed=True)
        else:
            target.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("compute", "0001_initial"),
        ("runs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="workspace",
            name="local_target_allowed",
            field=models.BooleanField(
                default=False,
                help_text="Members may run code on the portal's own machine (the “local” compute target).",
                verbose_name="local computer granted",
            ),
        ),
        migrations.RunPython(grant_where_runs_used_it, migrations.RunPython.noop),
    ]
