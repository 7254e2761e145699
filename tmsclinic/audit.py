"""Writing, reading and checking the audit trail (``tmsclinic.models.AuditEvent``).

- ``AuditMiddleware`` writes one event for every request a signed-in user makes to the staff
  pages, the portal or admin, and for every keyed link (calendar feed, reminder link) that
  names a patient: the page, its status, and the patient when the view named one with
  ``about(request, patient)`` (portal views name ``request.patient`` without being asked).
- ``record()`` writes any other event: logins, logouts, second-factor and permission
  changes, break-glass access, pruning.
- Every event is chained: its HMAC covers its content and the previous event's HMAC, so
  ``verify()`` (``manage.py verify_audit``) finds the first row that was edited, inserted or
  removed. The key is ``TMS_AUDIT_KEY`` (SECRET_KEY unless set), kept outside the database.
"""

import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
from contextvars import ContextVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# Requests under these paths are audited whenever a user is signed in.
AUDITED_PREFIXES = ("/staff/", "/portal/", "/admin/")
# Not patient data: the login pages, static assets, the session keep-alive.
UNAUDITED_URL_NAMES = frozenset({"portal:login", "portal:logout", "admin:login", "admin:logout", "admin:jsi18n"})


_request = ContextVar("audited_request", default=None)


def current_request():
    """The request being served, for events raised by signals deep inside it (a role granted in
    admin): they name who did it and from where."""
    return _request.get()


def _models():
    # Imported here: the middleware and signal handlers load before the app registry is ready.
    from .models import AuditChain, AuditEvent

    return AuditChain, AuditEvent


def client_ip(request):
    """The address the request came from, normalised so it reads back from the database exactly
    as it was hashed; behind a proxy this is the proxy unless the proxy rewrites REMOTE_ADDR."""
    raw = request.META.get("REMOTE_ADDR") if request is not None else None
    try:
        return ipaddress.ip_address(raw).compressed if raw else None
    except ValueError:
        return None


def _key():
    return (getattr(settings, "TMS_AUDIT_KEY", "") or settings.SECRET_KEY).encode()


def digest(prev_hash, *, seq, at, user_id, username, patient_id, action, path, status, ip, detail):
    """The HMAC of one event: its content in a fixed order, after the previous event's HMAC."""
    content = json.dumps(
        [prev_hash, seq, at.astimezone(datetime.UTC).isoformat(), user_id, username, patient_id, action, path,
         status, ip, detail],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hmac.new(_key(), content.encode(), hashlib.sha256).hexdigest()


def _event_digest(event, prev_hash):
    return digest(prev_hash, seq=event.seq, at=event.at, user_id=event.user_id, username=event.username,
                  patient_id=event.patient_id, action=event.action, path=event.path, status=event.status,
                  ip=event.ip, detail=event.detail)


def record(action, *, request=None, user=None, patient=None, path=None, status=None, detail="", at=None):
    """Append one event to the chain and return it. ``user`` defaults to the request's user,
    ``path`` to the request's full path. Runs in the caller's transaction when there is one
    (so a change and its event commit together) and in a short one of its own otherwise."""
    AuditChain, AuditEvent = _models()
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user if request.user.is_authenticated else None
    if path is None:
        path = request.get_full_path() if request is not None else ""
    with transaction.atomic():
        head, _ = AuditChain.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1, at=at or timezone.now(), user_id=getattr(user, "pk", None),
            username=user.get_username() if user is not None else "", patient_id=getattr(patient, "pk", patient),
            action=str(action), path=path[:500], status=status, ip=client_ip(request), detail=str(detail),
        )
        event.prev_hash = head.hash
        event.hash = _event_digest(event, head.hash)
        event.save()
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
    return event


def about(request, patient, action=None):
    """A view names the patient whose data its page shows (and, for an export, the action); the
    middleware's event then carries them."""
    request.audit_patient = patient
    if action is not None:
        request.audit_action = action


def _action_for(request, response):
    if response.status_code in (401, 403, 404):
        return "denied"
    explicit = getattr(request, "audit_action", None)
    if explicit:
        return explicit
    return "read" if request.method in ("GET", "HEAD", "OPTIONS") else "change"


def _wanted(request):
    patient = getattr(request, "audit_patient", None) or getattr(request, "patient", None)
    if patient is not None:
        return True
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith(AUDITED_PREFIXES):
        return False
    match = request.resolver_match
    return match is None or match.view_name not in UNAUDITED_URL_NAMES


class AuditMiddleware:
    """One event per audited request, written before the response leaves. If the event cannot
    be written the response is an error: a page that cannot be audited is not shown."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if _wanted(request):
            match = request.resolver_match
            patient = getattr(request, "audit_patient", None) or getattr(request, "patient", None)
            record(_action_for(request, response), request=request, patient=patient, status=response.status_code,
                   detail=match.view_name if match else "")
        return response


# --- Reading and checking -------------------------------------------------------------------


def opened_by(patient, *, limit=20):
    """Who opened this patient's record, newest first: the patient page's "who opened this record"."""
    _, AuditEvent = _models()
    return list(AuditEvent.objects.filter(patient=patient, action__in=("read", "export", "break_glass"))
                .exclude(username="").order_by("-seq").only("at", "username", "action", "path", "detail")[:limit])


class Broken(Exception):
    def __init__(self, seq, why):
        super().__init__(f"event {seq}: {why}")
        self.seq, self.why = seq, why


def verify(*, chunk=2000):
    """Walk the chain from its anchor; return how many events were checked, or raise Broken at
    the first one whose HMAC, order or link does not hold."""
    AuditChain, AuditEvent = _models()
    head = AuditChain.objects.filter(pk=1).first() or AuditChain()
    expected_seq, prev = head.anchor_seq + 1, head.anchor
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk):
        if event.seq != expected_seq:
            raise Broken(event.seq, f"expected event {expected_seq} here: events are missing or were inserted")
        if event.prev_hash != prev:
            raise Broken(event.seq, "does not follow the event before it")
        if not hmac.compare_digest(event.hash, _event_digest(event, prev)):
            raise Broken(event.seq, "its content was changed after it was written")
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    if head.seq != expected_seq - 1 or head.hash != prev:
        raise Broken(expected_seq, f"the newest events are missing (the chain's head is event {head.seq})")
    return checked


def prune(*, older_than_days=None, now=None, by=None):
    """Delete events older than the retention period, oldest first, keeping the chain checkable:
    the last pruned event's HMAC becomes the anchor, and the pruning itself is an event."""
    import pgtrigger

    AuditChain, AuditEvent = _models()
    days = settings.TMS_AUDIT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    with transaction.atomic():
        head, _ = AuditChain.objects.select_for_update().get_or_create(pk=1)
        last = AuditEvent.objects.filter(at__lt=cutoff).order_by("-seq").values("seq", "hash").first()
        if last is None:
            return 0
        with pgtrigger.ignore("tmsclinic.AuditEvent:append_only"):
            count, _ = AuditEvent.objects.filter(seq__lte=last["seq"]).delete()
        head.anchor_seq, head.anchor = last["seq"], last["hash"]
        head.save(update_fields=["anchor_seq", "anchor"])
        record("prune", user=by, detail=f"{count} events older than {days} days, up to event {last['seq']}; "
                                        f"the chain now starts after {last['hash']}")
    return count
