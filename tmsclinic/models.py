"""The audit trail: who read or changed which patient's data, and every security event.

Rows are only ever added (a PostgreSQL trigger refuses UPDATE and DELETE) and each carries an
HMAC of its content chained to the previous row's, so an edited, inserted or removed row
breaks the chain where ``manage.py verify_audit`` finds it. Writing goes through
``tmsclinic.audit.record``; nothing else creates these rows.
"""

import pgtrigger
from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        READ = "read", "Read"
        CHANGE = "change", "Change"
        EXPORT = "export", "Export"
        DENIED = "denied", "Refused"
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logout"
        MFA = "mfa", "Second factor"
        PERMISSIONS = "permissions", "Roles and permissions"
        BREAK_GLASS = "break_glass", "Break-glass access"
        PRUNE = "prune", "Pruned old events"

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(db_index=True, editable=False)
    # Neither key is a database constraint and neither is ever cleared: the trail outlives the
    # rows it names (a deleted account keeps its events; its name is in ``username``).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.DO_NOTHING,
                                db_constraint=False, related_name="audit_events")
    action = models.CharField(max_length=20, choices=Action.choices)
    path = models.CharField(max_length=500, blank=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
            models.Index(fields=["user", "-at"], name="audit_user_at"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or 'anonymous'} {self.action} {self.path}"


class AuditChain(models.Model):
    """The chain's head: one row, locked by every writer so events are chained one at a time.
    ``anchor`` is the hash the oldest kept event follows (the genesis, or the last pruned row)."""

    GENESIS = "0" * 64

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS)
    anchor_seq = models.PositiveBigIntegerField(default=0)
    anchor = models.CharField(max_length=64, default=GENESIS)

    def __str__(self):
        return f"audit chain at event {self.seq}"
