"""staff_digest: each clinician gets one e-mail of the new flags of their patients, naming none."""

from django.core import mail

from patients.models import PatientFlag
from scheduling.services.reminders import staff_digest
from tests.factories import PatientFactory, PatientFlagFactory, staff_user


def test_each_clinician_gets_one_digest_of_new_flags_without_patient_names(clinic):
    ana, ben = (staff_user(username=name, role="Clinician", email=f"{name}@clinic.test") for name in ("ana", "ben"))
    staff_user(username="desk", role="Front desk")
    anas = PatientFactory(home_clinic=clinic, primary_clinician=ana, first_name="Zebedee", last_name="Quill")
    bens = PatientFactory(home_clinic=clinic, primary_clinician=ben, first_name="Yolanda", last_name="Prynne")
    nobodys = PatientFactory(home_clinic=clinic, first_name="Xavier", last_name="Oddie")
    PatientFlagFactory(patient=anas, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    PatientFlagFactory(patient=bens, kind=PatientFlag.Kind.SAFETY)
    PatientFlagFactory(patient=nobodys, kind=PatientFlag.Kind.MISSED_APPOINTMENTS)
    assert staff_digest() == 2
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_recipient) == ["ana@clinic.test", "ben@clinic.test"]
    assert "2 new flags" in by_recipient["ana@clinic.test"].subject
    assert "1 × Overdue maintenance" in by_recipient["ana@clinic.test"].body
    assert "1 × Missed appointments" in by_recipient["ana@clinic.test"].body
    assert "Safety" not in by_recipient["ana@clinic.test"].body
    assert "1 × Safety (PHQ-9 item 9)" in by_recipient["ben@clinic.test"].body
    for message in mail.outbox:
        text = message.subject + message.body
        for patient in (anas, bens, nobodys):
            assert patient.first_name not in text and patient.last_name not in text and patient.mrn not in text
        assert "https://clinic.example/staff/" in message.body
    mail.outbox.clear()
    assert staff_digest() == 0
    assert mail.outbox == []
    PatientFlagFactory(patient=anas, kind=PatientFlag.Kind.WORSENING_SYMPTOMS)
    assert staff_digest() == 1
    (message,) = mail.outbox
    assert message.to == ["ana@clinic.test"]
    assert "1 new flag needs attention" in message.subject


def test_a_flag_with_no_named_clinician_goes_only_to_the_clinicians_of_the_patients_clinic(clinic):
    from tests.factories import ClinicFactory

    elsewhere = ClinicFactory(name="Elsewhere TMS")
    staff_user(username="here", role="Clinician", email="here@clinic.test", clinics=[clinic])
    staff_user(username="there", role="Clinician", email="there@clinic.test", clinics=[elsewhere])
    PatientFlagFactory(patient=PatientFactory(home_clinic=clinic), kind=PatientFlag.Kind.MISSED_APPOINTMENTS)
    assert staff_digest() == 1
    assert [message.to for message in mail.outbox] == [["here@clinic.test"]]
