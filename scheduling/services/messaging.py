"""Sending one message to a patient by e-mail or SMS, for every outbox that does it (reminders,
outreach, waitlist offers): one mail connection per batch, and each failure classified as worth
retrying or not, so each outbox decides what to do with its row."""

import smtplib
from collections import defaultdict

from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F

from .. import sms

EMAIL, SMS = "email", "sms"

PENDING, SENDING = "pending", "sending"


def claim(due, *, now, limit, order_by):
    """Take up to ``limit`` pending rows of the queryset ``due`` for this worker, marking them
    sending: rows another worker holds locked are skipped (PostgreSQL), SQLite's IMMEDIATE
    transactions serialise the claim, and on a backend without row locks only what this update
    really took is kept. Every outbox (reminders, outreach, offers) claims this way, so two
    workers never send the same row. Returns the claimed ids."""
    model = due.model
    with transaction.atomic():
        ids = list(due.filter(status=PENDING).order_by(order_by).select_for_update(skip_locked=True)
                   .values_list("pk", flat=True)[:limit])
        claimed = model.objects.filter(pk__in=ids, status=PENDING).update(
            status=SENDING, claimed_at=now, attempts=F("attempts") + 1)
        if claimed != len(ids):
            ids = list(model.objects.filter(pk__in=ids, status=SENDING, claimed_at=now).values_list("pk", flat=True))
    return ids


# Distinct outcomes a batch writes with an UPDATE each; rows with rarer ones go in one bulk_update.
OUTCOME_UPDATES = 4


def save_outcomes(rows, fields):
    """Write each row's ``fields`` after a batch: one UPDATE for each of the OUTCOME_UPDATES most
    common sets of values (every row sent by e-mail shares one, those by SMS another) and one
    bulk_update for the rows with rarer values (an error message of their own): at most
    OUTCOME_UPDATES + 1 statements whatever the batch's size, and no per-row SQL to build for
    the rows that went out (bulk_update's CASE costs as much as sending them)."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, field) for field in fields)].append(row)
    ordered = sorted(groups.items(), key=lambda group: len(group[1]), reverse=True)
    for values, members in ordered[:OUTCOME_UPDATES]:
        type(members[0]).objects.filter(pk__in=[row.pk for row in members]).update(**dict(zip(fields, values,
                                                                                               strict=True)))
    rarer = [row for _, members in ordered[OUTCOME_UPDATES:] for row in members]
    if rarer:
        type(rarer[0]).objects.bulk_update(rarer, fields)


TRANSIENT_MAIL_ERRORS = (ConnectionError, TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)


class _MailDown:
    """Stands in for a mail connection that could not be opened: every e-mail of the batch
    fails with the same error, without knocking on the server again."""

    def __init__(self, error):
        self.error = error

    def send_messages(self, messages):
        raise self.error

    def close(self):
        pass


def mail_connection(rows):
    """One connection for the batch's e-mails (rows with a ``channel``), opened here so that a
    server that is down is found once and every e-mail of the batch is retried later."""
    connection = get_connection()
    if any(row.channel == EMAIL for row in rows):
        try:
            connection.open()
        except SoftTimeLimitExceeded:
            raise
        except Exception as error:  # classified per e-mail in deliver
            return _MailDown(error)
    return connection


def deliver(patient, channel, subject, text, html, connection, sms_backend):
    """Send one message to the patient by ``channel`` ("email" or "sms"); raises
    sms.TransientSendError (try again later) or sms.PermanentSendError (never will)."""
    if channel == SMS:
        sms_backend.send(str(patient.phone), text)
        return
    message = EmailMultiAlternatives(subject, text, to=[patient.email], connection=connection)
    if html:
        message.attach_alternative(html, "text/html")
    try:
        message.send()
    except TRANSIENT_MAIL_ERRORS as error:
        raise sms.TransientSendError(str(error)) from error
    except smtplib.SMTPResponseException as error:
        # 4xx replies are "try again later"; 5xx are final.
        retry_later = 400 <= error.smtp_code < 500
        raise (sms.TransientSendError if retry_later else sms.PermanentSendError)(str(error)) from error
    except (smtplib.SMTPException, ValueError) as error:  # refused recipients, a malformed address
        raise sms.PermanentSendError(str(error)) from error
    except OSError as error:  # the network: a name that did not resolve, a reset connection
        raise sms.TransientSendError(str(error)) from error
