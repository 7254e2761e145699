"""Least privilege for the Clinic admin role (issue 11): configuration, the staff accounts of
their own clinics and the audit trail, in admin; no patient's record. Until now the role held
every permission on patients, appointments, session records and auth.user — enough to make
any account a superuser. The other roles keep their model permissions (used only by whoever
among them is also given admin access); what each may see on the staff pages is
tmsclinic/roles.py's table.

Frozen here, like 0002, so the migration means the same thing forever."""

from django.db import migrations

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"

CLINIC_ADMIN = {
    "scheduling.clinic": (VIEW, ADD, CHANGE),
    "scheduling.chair": (VIEW, ADD, CHANGE, DELETE),
    "scheduling.openinghours": (VIEW, ADD, CHANGE, DELETE),
    "scheduling.closure": (VIEW, ADD, CHANGE, DELETE),
    "scheduling.clinicmembership": (VIEW, ADD, CHANGE, DELETE),
    "patients.protocol": (VIEW, ADD, CHANGE),
    "patients.coursetemplate": (VIEW, ADD, CHANGE),
    "patients.plantemplate": (VIEW, ADD, CHANGE),
    "patients.plantemplatephase": (VIEW, ADD, CHANGE, DELETE),
    # Narrowed by scheduling.admin.StaffUserAdmin to their clinics' staff and the four roles.
    "auth.user": (VIEW, ADD, CHANGE),
    "tmsclinic.auditevent": (VIEW,),
}

# What the role held before (0002 and later grants), restored on the way back.
BEFORE = {
    **{f"patients.{model}": (VIEW, ADD, CHANGE, DELETE)
       for model in ("patient", "protocol", "treatmentcourse", "maintenanceplan", "maintenancephase", "assessment",
                     "patientflag")},
    **{f"scheduling.{model}": (VIEW, ADD, CHANGE, DELETE)
       for model in ("clinic", "chair", "openinghours", "closure", "appointment", "sessionrecord", "reminder")},
    "auth.user": (VIEW, ADD, CHANGE, DELETE),
    "auth.group": (VIEW,),
}


def _grant(apps, grants):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Clinic admin")
    group.permissions.clear()
    for label, actions in grants.items():
        app_label, model = label.split(".")
        group.permissions.add(*Permission.objects.filter(
            content_type__app_label=app_label, content_type__model=model,
            codename__in=[f"{action}_{model}" for action in actions]))


def narrow(apps, schema_editor):
    _grant(apps, CLINIC_ADMIN)


def widen(apps, schema_editor):
    _grant(apps, BEFORE)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0008_clinic_membership"),
        ("patients", "0008_missed_flags_resolved_index"),
        ("tmsclinic", "0001_initial"),
    ]

    operations = [migrations.RunPython(narrow, widen)]
