"""The patient form's data, as posted."""


def form_data(clinic, **changes):
    return {
        "mrn": "MRN-NEW-1",
        "first_name": "Ann",
        "last_name": "Smith",
        "date_of_birth": "1975-03-09",
        "email": "ann@patients.test",
        "phone": "",
        "home_clinic": clinic.pk,
        "preferred_channel": "email",
        "primary_clinician": "",
        "status": "active",
        **changes,
    }
