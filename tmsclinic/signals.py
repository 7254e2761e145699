"""Security events for the audit trail that no page view carries: logins, failed logins,
logouts, and changes to who holds which role, permission or clinic."""

from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from . import audit

User = get_user_model()
WATCHED_FLAGS = ("is_active", "is_staff", "is_superuser")


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs):
    audit.record("login", request=request, user=user, path=request.path if request else "")


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs):
    reason = getattr(request, "logout_reason", "") if request is not None else ""
    audit.record("logout", request=request, user=user, path=request.path if request else "", detail=reason)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Never the password: Django's credentials are already cleansed, but only the name is kept.
    username = str((credentials or {}).get("username", ""))[:150]
    audit.record("login_failed", request=request, user=None, path=request.path if request else "",
                 detail=f"username: {username}")


@receiver(pre_save, sender=User, dispatch_uid="audit_user_flags_before")
def _remember_flags(sender, instance, **kwargs):
    if instance.pk is None:
        instance._audit_flags = None
        return
    instance._audit_flags = User.objects.filter(pk=instance.pk).values(*WATCHED_FLAGS).first()


@receiver(post_save, sender=User, dispatch_uid="audit_user_flags_after")
def _flags_changed(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    before = getattr(instance, "_audit_flags", None)
    after = {flag: getattr(instance, flag) for flag in WATCHED_FLAGS}
    if created:
        changes = [f"account created ({', '.join(f for f, on in after.items() if on) or 'no flags'})"]
    elif before:
        changes = [f"{flag} {before[flag]} → {after[flag]}" for flag in WATCHED_FLAGS if before[flag] != after[flag]]
    else:
        changes = []
    if changes:
        audit.record("permissions", request=audit.current_request(),
                     detail=f"{instance.get_username()}: " + "; ".join(changes))


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="audit_groups")
@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="audit_permissions")
def _relations_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    what = "roles" if sender is User.groups.through else "permissions"
    if reverse:  # a group's or permission's members changed
        names = list(User.objects.filter(pk__in=pk_set or ()).values_list("username", flat=True))
        detail = f"{instance}: {action[5:]} {what} of {', '.join(names) or 'everyone'}"
    else:
        names = [str(obj) for obj in model.objects.filter(pk__in=pk_set or ())]
        detail = f"{instance.get_username()}: {action[5:]} {what} {', '.join(names) or '(all)'}"
    audit.record("permissions", request=audit.current_request(), detail=detail)
