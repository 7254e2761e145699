"""What `make loadtest` checks in the database once the load is over, written apart from the
code it checks:

- ``double_bookings()``: live appointments that overlap on one chair or for one patient, found
  by a self-join in SQL (not through the exclusion constraints or the booking service).
- ``reminder_sends(sms_path, mail_dir, since)``: every reminder message the workers handed to
  the file SMS backend and the file e-mail backend (a sink every process appends to), matched
  to the reminder rows marked sent since ``since``; a reminder sent twice shows as a key with
  more messages than rows.

Both need Django set up; tests/benchmarks/test_loadcheck.py plants the faults they must find.
"""

import email
import email.policy
import json
import re
from collections import Counter
from pathlib import Path

# Django's file e-mail backend ends every message with a line of 79 dashes.
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"
# How the maintenance-due message starts its subject (e-mail) and says it (SMS):
# templates/emails/maintenance_due.subject.txt and maintenance_due.sms.txt.
DUE_SUBJECT = "Time to book your next session at "
DUE_SMS = re.compile(r": your next session is due around ")


def double_bookings():
    """[(what, first id, second id)] for every pair of live (not cancelled) appointments that
    overlap on one chair ("chair") or for one patient ("patient"); [] when there is none.

    Two half-open ranges overlap exactly when the later-starting one starts before the other
    ends, so each pair is found from its earlier start through the (chair, starts_at) and
    (patient, starts_at) indexes, without comparing every pair of a chair's day."""
    from django.db import connection

    from scheduling.models import Appointment

    table = connection.ops.quote_name(Appointment._meta.db_table)
    rows = []
    with connection.cursor() as cursor:
        for what, column in (("chair", "chair_id"), ("patient", "patient_id")):
            cursor.execute(
                f"""
                SELECT a.id, b.id FROM {table} a JOIN {table} b
                  ON b.{column} = a.{column}
                 AND b.starts_at >= a.starts_at AND b.starts_at < a.ends_at
                 AND (b.starts_at > a.starts_at OR b.id > a.id)
                 AND b.id <> a.id
                WHERE a.status <> %s AND b.status <> %s
                """,
                ["cancelled", "cancelled"],
            )
            rows += [(what, *sorted(pair)) for pair in cursor.fetchall()]
    return sorted(rows)


def _sms_messages(path):
    path = Path(path)
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            message = json.loads(line)
            yield "sms", message["to"], "", message["body"]


def _mail_messages(folder):
    folder = Path(folder)
    if not folder.exists():
        return
    for file in sorted(folder.iterdir()):
        for chunk in file.read_bytes().split(MAIL_SEPARATOR):
            if not chunk.strip():
                continue
            message = email.message_from_bytes(chunk.lstrip(b"\n"), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            for to in message.get_all("To", []):
                yield "email", str(to), str(message["Subject"] or ""), body.get_content() if body else ""


def sink_messages(sms_path, mail_dir):
    """(channel, to, subject, body) for every message in the two sinks."""
    yield from _sms_messages(sms_path)
    yield from _mail_messages(mail_dir)


def _link_pattern():
    from django.urls import reverse

    marker = "TOKEN"
    prefix, _, suffix = reverse("portal:reminder-link", args=[marker]).partition(marker)
    return re.compile(re.escape(prefix) + r"([^/\s]+)" + re.escape(suffix))


def message_key(channel, to, subject, body, link=None):
    """What a reminder message is about: ("appointment", appointment uuid, channel) for an
    appointment reminder (from the signed link it carries), ("due", recipient, channel) for a
    maintenance-due one; None for any other message (outreach, offers, staff notices)."""
    from django.core import signing

    from scheduling.services.reminders import LINK_SALT

    match = (link or _link_pattern()).search(body)
    if match:
        try:
            return "appointment", str(signing.loads(match.group(1), salt=LINK_SALT)), channel
        except signing.BadSignature:
            return None
    if subject.startswith(DUE_SUBJECT) or (channel == "sms" and DUE_SMS.search(body)):
        return "due", to, channel
    return None


def _recipient(patient, channel):
    return str(patient.phone) if channel == "sms" else patient.email


def reminder_sends(sms_path, mail_dir, since):
    """Reminder messages in the sinks against the reminder rows marked sent since ``since``.

    Returns a dict: ``messages`` (reminder messages found), ``rows`` (rows sent since),
    ``duplicates`` ([(key, messages, rows)] where more messages went out than rows say: a
    reminder sent twice), ``missing`` (the same where a row says sent but no message is there),
    ``in_flight`` (rows a worker still holds as "sending")."""
    from scheduling.models import Reminder

    link = _link_pattern()
    sent = Counter()
    for channel, to, subject, body in sink_messages(sms_path, mail_dir):
        key = message_key(channel, to, subject, body, link)
        if key is not None:
            sent[key] += 1
    rows = Counter()
    recent = Reminder.objects.filter(status=Reminder.Status.SENT, sent_at__gte=since).select_related(
        "appointment", "plan__patient"
    )
    for reminder in recent:
        if reminder.appointment_id:
            rows["appointment", str(reminder.appointment.uuid), reminder.channel] += 1
        else:
            rows["due", _recipient(reminder.plan.patient, reminder.channel), reminder.channel] += 1
    keys = sorted(set(sent) | set(rows))
    return {
        "messages": sum(sent.values()),
        "rows": sum(rows.values()),
        "duplicates": [(key, sent[key], rows[key]) for key in keys if sent[key] > rows[key]],
        "missing": [(key, sent[key], rows[key]) for key in keys if sent[key] < rows[key]],
        "in_flight": Reminder.objects.filter(status=Reminder.Status.SENDING).count(),
    }
