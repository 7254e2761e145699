"""A patient's page, and what clinicians start and change from it: courses, maintenance plans,
the portal invitation."""

from django.contrib import messages
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from patients import charts
from patients.models import TreatmentCourse
from patients.selectors import course_for, patient_for, plan_for
from tmsclinic import audit
from tmsclinic.roles import (
    BILLING,
    BOOK,
    CLINICAL_READ,
    CLINICAL_WRITE,
    EDIT_PATIENTS,
    RUN_SESSIONS,
    SEE_PATIENTS,
    may,
    staff_required,
)

from .. import selectors, services
from ..models import Appointment
from ..services import motor_threshold, waitlist
from ..services.portal import InviteRefused, invite_patient, portal_booking_note
from .forms import (
    AuthorisationForm,
    ChoosePlanTemplateForm,
    EndCourseForm,
    EndPlanForm,
    MotorThresholdRecheckForm,
    PausePlanForm,
    PhaseFormSet,
    StartCourseForm,
    StartPlanForm,
    WaitlistWishForm,
)

MT_HISTORY = 50  # measurements on the patient page


@staff_required(SEE_PATIENTS)
def patient(request, uuid):
    person = patient_for(request, uuid, related=("home_clinic", "primary_clinician"))
    # Every course, newest first: the outcomes need them all, and the one in progress is among them.
    courses = list(person.courses.select_related("protocol").order_by("-start_date"))
    course = next((c for c in courses if c.status == TreatmentCourse.Status.ACTIVE), None)
    now = timezone.now()
    context = {
        "patient": person,
        "summary": selectors.course_summary(course) if course else None,
        "upcoming": _paged(request, "upcoming", selectors.upcoming_appointments, person, now),
        "past": _paged(request, "past", selectors.past_appointments, person, now),
        "deliveries": _paged(request, "reminders", selectors.delivery_log, person, now),
    }
    # Clinical detail is read only for whoever may see it, not just hidden in the page.
    context.update(selectors.patient_outcomes(person, courses, clinical=may(request.user, CLINICAL_READ)))
    if may(request.user, CLINICAL_READ):
        context["opened_by"] = audit.opened_by(person)
    if may(request.user, RUN_SESSIONS) or may(request.user, CLINICAL_READ):
        context.update(_motor_threshold(person))
    context.update(_waitlist(request, person, context["upcoming"]))
    if may(request.user, CLINICAL_WRITE):
        context["mt_recheck_form"] = MotorThresholdRecheckForm()
        if context.get("can_start_plan"):
            context["default_plan_template"] = services.default_plan_template()
    return render(request, "staff/patient.html", context)


def _paged(request, name, selector, person, now):
    """A page of one of the patient page's lists, with the links to its neighbours. Each list
    has its own query parameter (its name), so paging one keeps the others where they were;
    a page number that is not one reads as the first."""
    value = request.GET.get(name, "")
    page = selector(person, now=now, page=int(value) if value.isdigit() and len(value) < 6 else 1)

    def link(number):
        query = request.GET.copy()
        if number > 1:
            query[name] = number
        else:
            query.pop(name, None)
        return f"{request.path}?{query.urlencode()}" if query else request.path

    page.list_id = f"{name}-list"
    page.previous_url = link(page.previous_page_number) if page.has_previous else None
    page.next_url = link(page.next_page_number) if page.has_next else None
    return page


def _motor_threshold(person):
    """The patient's measured MTs (who, when, at which session), their chart, and a re-check
    asked for since the last one."""
    measured = list(motor_threshold.measurements(person)[:MT_HISTORY])
    points = [(record.appointment.clinic.local(record.appointment.starts_at).date(), record.motor_threshold)
              for record in reversed(measured)]
    asked = person.mt_rechecks.select_related("requested_by").first()
    latest = measured[0].appointment.starts_at if measured else None
    return {
        "show_motor_threshold": True,
        "mt_history": measured,
        "mt_chart": charts.mt_chart(points) if points else None,
        "mt_recheck_pending": asked if asked and (latest is None or asked.requested_at > latest) else None,
    }


@staff_required(CLINICAL_WRITE)
@require_POST
def mt_recheck(request, uuid):
    person = patient_for(request, uuid)
    form = MotorThresholdRecheckForm(request.POST)
    if form.is_valid():
        motor_threshold.ask_for_recheck(person, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
                                        by=request.user)
        messages.success(request, "Noted: the motor threshold will be measured at the next session.")
    else:
        messages.error(request, " ".join(f"{form.fields[name].label}: {' '.join(errors)}" if name in form.fields
                                         else " ".join(errors) for name, errors in form.errors.items()))
    return redirect("staff:patient", uuid=person.uuid)


@staff_required(CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def start_course(request, uuid):
    person = patient_for(request, uuid)
    form = StartCourseForm(request.POST if request.method == "POST" else None, clinic=person.home_clinic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        booking = services.start_course(
            patient=person, protocol=data["protocol"], template=data["template"], kind=data["kind"],
            start_date=data["start_date"], chair=data["chair"], time_of_day=data["time_of_day"], by=request.user,
            authorised_sessions=data["authorised_sessions"], prior_auth_number=data["prior_auth_number"],
            motor_threshold=data["motor_threshold"], authorised_until=data["authorised_until"],
        )
        return render(request, "staff/course_booked.html", {"patient": person, "booking": booking})
    return render(request, "staff/start_course.html", {"patient": person, "form": form})


@staff_required(CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def course_end(request, pk):
    """A clinician completes the course in progress, or discontinues it saying why; its sessions
    still booked may be cancelled with it. A completed acute course leads straight on to its
    maintenance plan, the clinic's default template already chosen."""
    course = course_for(request, pk)
    person = course.patient
    if course.status != TreatmentCourse.Status.ACTIVE:
        messages.error(request, f"This course is already {course.get_status_display().lower()}.")
        return redirect("staff:patient", uuid=person.uuid)
    form = EndCourseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            course, cancelled = services.end_course(course, outcome=data["outcome"], reason=data["reason"],
                                                    by=request.user, cancel_leftover=data["cancel_leftover"])
        except services.CourseRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            ended = f"Course {course.get_status_display().lower()} on {course.ended_on:%-d %b %Y}."
            if cancelled:
                ended += f" {cancelled} booking{'s' if cancelled != 1 else ''} cancelled."
            messages.success(request, ended)
            return _after_course(request, course)
    return render(request, "staff/course_end.html", {
        "course": course, "patient": person, "form": form,
        "summary": selectors.course_summary(course),
        "leftover": list(services.leftover_bookings(course).select_related("chair")),
        "default_plan_template": services.default_plan_template(),
    }, status=400 if form.is_bound else 200)


def _after_course(request, course):
    """Where a clinician goes once a course has ended: on to the maintenance plan, when one can
    start from it, with the default template chosen; else back to the patient."""
    person = course.patient
    source = services.latest_completed_acute(person.courses.order_by("-start_date"))
    template = services.default_plan_template()
    if source is not None and source.pk == course.pk and template is not None \
            and services.why_no_new_plan(person, source) is None:
        return redirect(f"{reverse('staff:plan-start', args=[person.uuid])}?template={template.pk}")
    return redirect("staff:patient", uuid=person.uuid)


@staff_required(EDIT_PATIENTS)
@require_POST
def invite(request, uuid):
    person = patient_for(request, uuid)
    try:
        user = invite_patient(person)
    except InviteRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Portal invitation on its way to {user.email}: the e-mail goes out within a minute.")
    return redirect("staff:patient", uuid=person.uuid)


# --- Maintenance plans -----------------------------------------------------------------------


@staff_required(CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def plan_start(request, uuid):
    """Two steps: choose a template (?template=), then adjust its phases for this patient."""
    person = patient_for(request, uuid)
    source = services.latest_completed_acute(person.courses.select_related("protocol").order_by("-start_date"))
    refusal = services.why_no_new_plan(person, source)
    if refusal:
        messages.error(request, refusal)
        return redirect("staff:patient", uuid=person.uuid)
    clinic = person.home_clinic
    chooser = ChoosePlanTemplateForm(request.GET if "template" in request.GET else None,
                                     initial={"template": services.default_plan_template()})
    if not chooser.is_valid():
        return render(request, "staff/outcomes/plan_template.html",
                      {"patient": person, "source": source, "form": chooser})
    template = chooser.cleaned_data["template"]
    if request.method == "POST":
        form = StartPlanForm(request.POST, clinic=clinic)
        phases = PhaseFormSet(request.POST, prefix="phases")
        if form.is_valid() and phases.is_valid():
            try:
                plan = services.start_plan(
                    patient=person, protocol=source.protocol, template=template, source_course=source,
                    started_on=form.cleaned_data["started_on"], grace_days=form.cleaned_data["grace_days"],
                    phases=phases.phases,
                )
            except IntegrityError:
                # Someone else started a plan for this patient since the check above.
                messages.error(request, services.ALREADY_ON_A_PLAN)
            else:
                messages.success(request, f"Maintenance plan started: first visit due {plan.next_due_on:%-d %b %Y}. "
                                          f"{portal_booking_note(person, plan)}")
            return redirect("staff:patient", uuid=person.uuid)
    else:
        template_phases = list(template.phases.all())
        first_due, last_session_on = services.first_visit_due(
            source, template_phases[0].interval_days if template_phases else 0, clinic)
        form = StartPlanForm(initial={"started_on": first_due, "grace_days": template.grace_days}, clinic=clinic)
        phases = PhaseFormSet(prefix="phases", initial=[
            {"interval_days": p.interval_days, "sessions_per_visit": p.sessions_per_visit, "visits": p.visits}
            for p in template_phases
        ])
    return render(request, "staff/outcomes/plan_start.html", {
        "patient": person, "source": source, "template": template, "form": form, "phases": phases,
        "last_session_on": None if form.is_bound else last_session_on,
    }, status=400 if form.is_bound else 200)


def _render_plan_action(request, plan, form, action):
    return render(request, "staff/outcomes/plan_action.html", {
        "plan": plan, "patient": plan.patient, "form": form, "action": action,
    }, status=400 if form.is_bound else 200)


@staff_required(CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def plan_pause(request, pk):
    plan = plan_for(request, pk)
    if reason := services.why_not_pause(plan):
        messages.error(request, reason)
        return redirect("staff:patient", uuid=plan.patient.uuid)
    form = PausePlanForm(request.POST if request.method == "POST" else None, clinic=plan.patient.home_clinic)
    if request.method == "POST" and form.is_valid():
        until = form.cleaned_data["until"]
        try:
            services.pause_plan(plan, until=until)
        except services.PlanStateError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, f"Plan paused until {until:%-d %b %Y}." if until
                             else "Plan paused until resumed.")
        return redirect("staff:patient", uuid=plan.patient.uuid)
    return _render_plan_action(request, plan, form, "pause")


@staff_required(CLINICAL_WRITE)
@require_POST
def plan_resume(request, pk):
    plan = plan_for(request, pk)
    try:
        services.resume_plan(plan)
    except services.PlanStateError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, "Plan resumed.")
    return redirect("staff:patient", uuid=plan.patient.uuid)


@staff_required(CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def plan_end(request, pk):
    plan = plan_for(request, pk)
    if reason := services.why_not_end(plan):
        messages.error(request, reason)
        return redirect("staff:patient", uuid=plan.patient.uuid)
    form = EndPlanForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.end_plan(plan, reason=form.cleaned_data["reason"])
        except services.PlanStateError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, "Plan ended.")
        return redirect("staff:patient", uuid=plan.patient.uuid)
    return _render_plan_action(request, plan, form, "end")


@staff_required(BILLING)
@require_http_methods(["GET", "POST"])
def authorisation(request, pk):
    """Record or extend a course's authorisation; its earlier values stay in the history."""
    course = course_for(request, pk)
    initial = {"prior_auth_number": course.prior_auth_number, "authorised_sessions": course.authorised_sessions,
               "authorised_from": course.authorised_from, "authorised_until": course.authorised_until}
    form = AuthorisationForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.change_authorisation(
                course, number=data["prior_auth_number"], sessions=data["authorised_sessions"],
                valid_from=data["authorised_from"], until=data["authorised_until"], note=data["note"], by=request.user)
        except services.AuthorisationRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, "The authorisation is recorded.")
            return redirect("staff:patient", uuid=course.patient.uuid)
    return render(request, "staff/authorisation.html", {
        "course": course, "patient": course.patient, "form": form,
        "history": course.authorisation_changes.select_related("changed_by"),
    }, status=400 if form.is_bound else 200)


# --- Waitlist ------------------------------------------------------------------------------------


def _bookable_visits(person, upcoming):
    """The patient's booked visits at their home clinic that a wish may bring forward (from the
    upcoming list already read for the page)."""
    return [a for a in upcoming if a.status == Appointment.Status.BOOKED and a.clinic_id == person.home_clinic_id]


def _waitlist(request, person, upcoming, form=None):
    """The patient page's waitlist card: the wish waiting at the home clinic, its offers, and the
    form to add one for whoever may book."""
    entry = waitlist.waiting_entry(person, person.home_clinic)
    card = {"waitlist_entry": entry, "waitlist_wish": waitlist.describe(entry) if entry else None,
            "waitlist_offers": waitlist.recent_offers(person)}
    if entry is None and may(request.user, BOOK) and person.status == person.Status.ACTIVE:
        card["waitlist_form"] = form or WaitlistWishForm(appointments=_bookable_visits(person, upcoming),
                                                         clinic=person.home_clinic)
    return card


@staff_required(BOOK)
@require_POST
def waitlist_add(request, uuid):
    person = patient_for(request, uuid)
    upcoming = selectors.upcoming_appointments(person, now=timezone.now(), page=1)
    form = WaitlistWishForm(request.POST, appointments=_bookable_visits(person, upcoming), clinic=person.home_clinic)
    if form.is_valid():
        data = form.cleaned_data
        try:
            waitlist.add_wish(
                patient=person, clinic=person.home_clinic, by=request.user, via=Appointment.Via.STAFF,
                earlier_than=data.get("earlier_than"), weekdays=data["weekdays"], earliest_time=data["earliest_time"],
                latest_time=data["latest_time"], from_date=data["from_date"], until_date=data["until_date"],
                note=data["note"])
        except waitlist.WaitlistRefusal as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, "On the waitlist: freed times that suit will be offered to the patient.")
    else:
        messages.error(request, " ".join(f"{form.fields[name].label}: {' '.join(errors)}" if name in form.fields
                                         else " ".join(errors) for name, errors in form.errors.items()))
    return redirect(f"{reverse('staff:patient', args=[person.uuid])}#waitlist")


@staff_required(BOOK)
@require_POST
def waitlist_withdraw(request, uuid):
    person = patient_for(request, uuid)
    entry = waitlist.waiting_entry(person, person.home_clinic)
    if entry is not None and waitlist.withdraw(entry):
        messages.success(request, "Taken off the waitlist.")
    else:
        messages.error(request, "The patient is not on the waitlist.")
    return redirect(f"{reverse('staff:patient', args=[person.uuid])}#waitlist")
