"""factory_boy factories for the domain; tests build only what they need."""

import datetime

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from patients.models import (
    Assessment,
    MaintenancePhase,
    MaintenancePlan,
    Patient,
    PatientFlag,
    Protocol,
    TreatmentCourse,
)
from scheduling.models import (
    Appointment,
    Chair,
    Clinic,
    ClinicMembership,
    Closure,
    FreedSlot,
    OpeningHours,
    OutreachMessage,
    OutreachTemplate,
    Reminder,
    SessionRecord,
    SlotOffer,
    WaitlistEntry,
)
from tmsclinic import roles

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if extracted:
            # get_or_create: transactional tests flush the groups the data migration made.
            user.groups.add(Group.objects.get_or_create(name=extracted)[0])
        if create:
            user.save()


# Staff made by staff_user() work at every clinic of the test, those that exist and those made
# later in it, unless ``clinics=[...]`` names theirs: most tests are about one clinic's day, and
# the clinic-wall tests say which clinics each member has. Emptied before each test (conftest).
EVERYWHERE = set()


def join(user, clinics):
    """Make ``user`` a member of ``clinics``; the first becomes home if they have none."""
    has_home = user.clinic_memberships.filter(is_home=True).exists()
    for clinic in clinics:
        _, created = ClinicMembership.objects.get_or_create(user=user, clinic=clinic,
                                                            defaults={"is_home": not has_home})
        has_home = has_home or created


def staff_user(role=roles.FRONT_DESK, clinics=None, **kwargs):
    user = UserFactory(role=role, **kwargs)
    if clinics is None:
        EVERYWHERE.add(user.pk)
        clinics = Clinic.objects.order_by("pk")
    join(user, clinics)
    return user


def admin_user(username, role):
    """A staff user in ``role`` who may also open Django admin."""
    user = staff_user(username=username, role=role)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    time_zone = "America/New_York"
    address = "1 Main Street"

    @factory.post_generation
    def staff_everywhere(clinic, create, extracted, **kwargs):
        for user in User.objects.filter(pk__in=EVERYWHERE):
            join(user, [clinic])


class ChairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chair

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Chair {n}")
    device_model = "NeuroStar"
    coil = "Figure-8"


class OpeningHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OpeningHours

    clinic = factory.SubFactory(ClinicFactory)
    weekday = 0
    opens_at = datetime.time(8)
    closes_at = datetime.time(18)


class ClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Closure

    clinic = factory.SubFactory(ClinicFactory)
    starts_on = datetime.date(2026, 12, 25)
    ends_on = datetime.date(2026, 12, 25)
    reason = "Christmas Day"


class ProtocolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Protocol
        django_get_or_create = ("name",)

    name = "10 Hz rTMS (NeuroStar)"
    pattern = Protocol.Pattern.RTMS_10HZ
    pulses_per_session = 3000
    session_minutes = 38
    chair_minutes = 45
    intensity_percent_mt = 120


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = "Example"
    date_of_birth = datetime.date(1980, 5, 17)
    email = factory.LazyAttribute(lambda p: f"{p.mrn.lower()}@patients.test")
    home_clinic = factory.SubFactory(ClinicFactory)


class TreatmentCourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatmentCourse

    patient = factory.SubFactory(PatientFactory)
    protocol = factory.SubFactory(ProtocolFactory)
    start_date = datetime.date(2026, 9, 1)
    motor_threshold = 55


class MaintenancePlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenancePlan

    patient = factory.SubFactory(PatientFactory)
    protocol = factory.SubFactory(ProtocolFactory)
    started_on = datetime.date(2026, 11, 2)


class MaintenancePhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenancePhase

    plan = factory.SubFactory(MaintenancePlanFactory)
    order = factory.Sequence(int)
    interval_days = 7
    visits = 4


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assessment

    patient = factory.SubFactory(PatientFactory)
    item_1 = item_2 = item_3 = item_4 = item_5 = item_6 = item_7 = item_8 = 1
    item_9 = 0


class PatientFlagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientFlag

    patient = factory.SubFactory(PatientFactory)
    kind = PatientFlag.Kind.OVERDUE_MAINTENANCE


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    chair = factory.SubFactory(ChairFactory)
    clinic = factory.LazyAttribute(lambda a: a.chair.clinic)
    patient = factory.SubFactory(PatientFactory, home_clinic=factory.SelfAttribute("..clinic"))
    kind = Appointment.Kind.ACUTE
    starts_at = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0))
    ends_at = factory.LazyAttribute(lambda a: a.starts_at + datetime.timedelta(minutes=45))


class SessionRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionRecord

    appointment = factory.SubFactory(AppointmentFactory, status=Appointment.Status.COMPLETED)
    pulses_delivered = 3000
    intensity_percent_mt = 120
    motor_threshold = 55


class ReminderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reminder

    appointment = factory.SubFactory(AppointmentFactory)
    kind = Reminder.Kind.DAY_BEFORE
    channel = Reminder.Channel.EMAIL
    scheduled_for = factory.LazyAttribute(lambda r: r.appointment.starts_at - datetime.timedelta(days=1))


class OutreachTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutreachTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    subject = "Time to book your next visit"
    body = "Hi {first_name}, it is {clinic}. Book here: {link} or call {clinic_phone}."


class OutreachMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutreachMessage

    flag = factory.SubFactory(PatientFlagFactory)
    patient = factory.SelfAttribute("flag.patient")
    template = factory.SubFactory(OutreachTemplateFactory)
    channel = OutreachMessage.Channel.EMAIL
    scheduled_for = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0))


class WaitlistEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WaitlistEntry

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SelfAttribute("patient.home_clinic")


class SlotOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlotOffer

    entry = factory.SubFactory(WaitlistEntryFactory)
    patient = factory.SelfAttribute("entry.patient")
    clinic = factory.SelfAttribute("entry.clinic")
    chair = factory.SubFactory(ChairFactory, clinic=factory.SelfAttribute("..clinic"))
    starts_at = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) + datetime.timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + datetime.timedelta(minutes=45))
    channel = Reminder.Channel.EMAIL


class FreedSlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FreedSlot

    chair = factory.SubFactory(ChairFactory)
    clinic = factory.SelfAttribute("chair.clinic")
    starts_at = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) + datetime.timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + datetime.timedelta(minutes=45))
    reason = FreedSlot.Reason.CANCELLED


def one_of_everything(patient, starts_at=datetime.datetime(2026, 12, 9, 15, 0, tzinfo=datetime.UTC)):
    """One of every record a staff or portal URL can name, all of ``patient`` (who gets a portal
    login), and what each kind of URL keyword names, by the URL map's own path segments."""
    patient.user = UserFactory(username=patient.email)
    patient.save()
    course = TreatmentCourseFactory(patient=patient)
    plan = MaintenancePlanFactory(patient=patient)
    MaintenancePhaseFactory(plan=plan)
    appointment = AppointmentFactory(patient=patient, chair=ChairFactory(clinic=patient.home_clinic), course=course,
                                     starts_at=starts_at)
    AssessmentFactory(patient=patient)
    flag = PatientFlagFactory(patient=patient)
    return {"patients": {"uuid": patient.uuid}, "appointments": {"uuid": appointment.uuid},
            "plans": {"pk": plan.pk}, "attention": {"pk": flag.pk}, "courses": {"pk": course.pk}}
