"""The scheduling domain's API: what pages, admin, commands and tasks call to change things.

Each module holds one part of the calendar's rules; this package re-exports the public
interface of DESIGN.md (``scheduling.services.book_appointment`` and friends) unchanged.

- ``calendar``: opening hours and closures, local midnight, clinic-time wording
- ``booking``: availability, book / reschedule / check in / cancel / complete / no-show
- ``motor_threshold``: when the MT must be measured, what was measured, what a session carries
- ``billing``: CPT codes derived at completion, a clinician's change, the monthly export
- ``courses``: course days, booking a whole course, the authorisation: sessions used, booked, to book
- ``plans``: maintenance plans, their due dates, and the overdue flag job
- ``reminders``: the outbox: arm, disarm, claim, send, resend, nudges, the staff digest
- ``slots``: the slot finder across chairs and days, and the likely kind of a new booking
- ``portal``: what a patient may book, cancel or move, and their portal account
"""

from .booking import (
    AppointmentStateError,
    Slot,
    SlotUnavailable,
    book_appointment,
    cancel_appointment,
    chair_minutes,
    check_in,
    check_in_opens_at,
    complete_appointment,
    find_open_slots,
    mark_no_show,
    mark_no_shows,
    open_slots,
    reschedule_appointment,
)
from .calendar import ClinicCalendar, midnight
from .courses import (
    AuthorisationRefused,
    CourseBooking,
    CourseRefused,
    Unplaced,
    active_course_for,
    authorisation_status,
    change_authorisation,
    course_days,
    end_course,
    leftover_bookings,
    sessions_used,
    start_course,
)
from .plans import (
    ALREADY_ON_A_PLAN,
    PlanStateError,
    active_plan_for,
    default_plan_template,
    end_plan,
    first_visit_due,
    flag_overdue_patients,
    latest_completed_acute,
    pause_plan,
    refresh_plan,
    resume_plan,
    start_plan,
    why_no_new_plan,
    why_not_end,
    why_not_pause,
)
from .slots import duration_for, free_slots, likely_kind

__all__ = [
    "ALREADY_ON_A_PLAN",
    "AppointmentStateError",
    "ClinicCalendar",
    "CourseBooking",
    "PlanStateError",
    "Slot",
    "SlotUnavailable",
    "Unplaced",
    "active_course_for",
    "active_plan_for",
    "duration_for",
    "free_slots",
    "likely_kind",
    "AuthorisationRefused",
    "CourseRefused",
    "authorisation_status",
    "change_authorisation",
    "end_course",
    "leftover_bookings",
    "book_appointment",
    "cancel_appointment",
    "chair_minutes",
    "check_in",
    "check_in_opens_at",
    "complete_appointment",
    "course_days",
    "default_plan_template",
    "end_plan",
    "first_visit_due",
    "find_open_slots",
    "flag_overdue_patients",
    "latest_completed_acute",
    "mark_no_show",
    "mark_no_shows",
    "midnight",
    "open_slots",
    "pause_plan",
    "refresh_plan",
    "reschedule_appointment",
    "resume_plan",
    "sessions_used",
    "start_course",
    "start_plan",
    "why_no_new_plan",
    "why_not_end",
    "why_not_pause",
]
