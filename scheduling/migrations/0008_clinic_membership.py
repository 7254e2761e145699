import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("scheduling", "0007_missed_appointments_since_last_run"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ClinicMembership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("is_home", models.BooleanField(default=False, help_text="The clinic whose day this member sees first")),
                ("clinic", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships",
                                             to="scheduling.clinic")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                           related_name="clinic_memberships", to=settings.AUTH_USER_MODEL)),
            ],
            options={"ordering": ["-is_home", "clinic__name"]},
        ),
        migrations.AddConstraint(
            model_name="clinicmembership",
            constraint=models.UniqueConstraint(fields=("user", "clinic"), name="one_membership_per_clinic"),
        ),
        migrations.AddConstraint(
            model_name="clinicmembership",
            constraint=models.UniqueConstraint(condition=models.Q(("is_home", True)), fields=("user",),
                                               name="one_home_clinic"),
        ),
        migrations.AddField(
            model_name="clinic",
            name="staff",
            field=models.ManyToManyField(blank=True, related_name="clinics", through="scheduling.ClinicMembership",
                                         to=settings.AUTH_USER_MODEL),
        ),
    ]
