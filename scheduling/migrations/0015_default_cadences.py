from django.db import migrations

# The default ladder (issue 14): day 0 a message by the patient's consented preferred channel,
# day 3 by the other one, day 7 a call task on the worklist. Admin can edit all of it.
# The wording stays clinical-free: it names the clinic, never the treatment or the reason.
TEMPLATES = {
    "Time to book": (
        "Time to book your next visit",
        "Hi {first_name}, it is {clinic}. Your next visit was due on {due_on} and is not booked yet. "
        "Choose a time in a tap: {link} or call us on {clinic_phone}.",
    ),
    "Still here for you": (
        "We would still like to see you",
        "Hi {first_name}, {clinic} here again. We have kept times for you: {link} "
        "If it suits you better, ask us to call you from the same page, or call {clinic_phone}.",
    ),
    "Missed visits": (
        "We missed you",
        "Hi {first_name}, we missed you at {clinic}. Pick a new time: {link} or call us on {clinic_phone}.",
    ),
    "Please call us": (
        "Please call us",
        "Hi {first_name}, please call {clinic} on {clinic_phone} when you can. You can also book here: {link}",
    ),
}
CADENCES = [
    ("Overdue maintenance", "overdue_maintenance", [(0, "first", "Time to book"), (3, "other", "Still here for you"),
                                                     (7, "call", None)]),
    ("Missed appointments", "missed_appointments", [(0, "first", "Missed visits"), (3, "other", "Still here for you"),
                                                     (7, "call", None)]),
]


def create_default_cadences(apps, schema_editor):
    Template = apps.get_model("scheduling", "OutreachTemplate")
    Cadence = apps.get_model("scheduling", "OutreachCadence")
    Step = apps.get_model("scheduling", "CadenceStep")
    templates = {}
    for name, (subject, body) in TEMPLATES.items():
        templates[name], _ = Template.objects.get_or_create(name=name, defaults={"subject": subject, "body": body})
    for name, kind, steps in CADENCES:
        if Cadence.objects.filter(flag_kind=kind, clinic__isnull=True).exists():
            continue
        cadence = Cadence.objects.create(name=name, flag_kind=kind)
        Step.objects.bulk_create(
            Step(cadence=cadence, day=day, action=action, template=templates.get(template))
            for day, action, template in steps
        )


# The Clinic admin role configures outreach (tmsclinic.roles CONFIGURE): its cadences, their
# steps and the message templates. The ledger, waitlist and offers are read on the staff pages.
CLINIC_ADMIN = {
    "outreachtemplate": ("view", "add", "change"),
    "outreachcadence": ("view", "add", "change", "delete"),
    "cadencestep": ("view", "add", "change", "delete"),
}


def grant_clinic_admin(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Clinic admin")
    for model, actions in CLINIC_ADMIN.items():
        group.permissions.add(*Permission.objects.filter(
            content_type__app_label="scheduling", content_type__model=model,
            codename__in=[f"{action}_{model}" for action in actions]))


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0014_outreach_and_waitlist"), ("scheduling", "0009_least_privilege")]

    operations = [
        migrations.RunPython(create_default_cadences, migrations.RunPython.noop),
        migrations.RunPython(grant_clinic_admin, migrations.RunPython.noop),
    ]
