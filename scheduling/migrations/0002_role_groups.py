"""Create the four staff role groups with their model permissions.

The permission table is frozen here (not imported from app code) so that this migration
means the same thing forever; later changes to a role get a migration of their own.
"""

from django.db import migrations

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)

ROLES = {
    "Front desk": {
        "patients.patient": (VIEW, ADD, CHANGE),
        "patients.treatmentcourse": (VIEW,),
        "patients.maintenanceplan": (VIEW,),
        "scheduling.appointment": (VIEW, ADD, CHANGE),
        "scheduling.clinic": (VIEW,),
        "scheduling.chair": (VIEW,),
        "scheduling.reminder": (VIEW,),
    },
    "Technician": {
        "patients.patient": (VIEW,),
        "patients.treatmentcourse": (VIEW,),
        "patients.protocol": (VIEW,),
        "scheduling.appointment": (VIEW, CHANGE),
        "scheduling.sessionrecord": (VIEW, ADD, CHANGE),
        "scheduling.clinic": (VIEW,),
        "scheduling.chair": (VIEW,),
    },
    "Clinician": {
        "patients.patient": (VIEW, CHANGE),
        "patients.protocol": (VIEW,),
        "patients.treatmentcourse": (VIEW, ADD, CHANGE),
        "patients.maintenanceplan": (VIEW, ADD, CHANGE),
        "patients.maintenancephase": ALL,
        "patients.assessment": (VIEW, ADD),
        "patients.patientflag": (VIEW, ADD, CHANGE),
        "scheduling.appointment": (VIEW, ADD, CHANGE),
        "scheduling.sessionrecord": (VIEW,),
        "scheduling.clinic": (VIEW,),
        "scheduling.chair": (VIEW,),
    },
    "Clinic admin": {
        **{
            f"patients.{model}": ALL
            for model in ("patient", "protocol", "treatmentcourse", "maintenanceplan",
                          "maintenancephase", "assessment", "patientflag")
        },
        **{
            f"scheduling.{model}": ALL
            for model in ("clinic", "chair", "openinghours", "closure", "appointment",
                          "sessionrecord", "reminder")
        },
        "auth.user": ALL,
        "auth.group": (VIEW,),
    },
}


def create_role_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; make them exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        for label, actions in grants.items():
            app_label, model = label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("patients", "0002_initial"),
        ("scheduling", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
