"""The staff login in two steps, the second-factor pages, and the staff password reset."""

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from tmsclinic.logoff import is_portal_account

from . import mfa, passwords
from .forms import CodeForm, ConfirmAppForm, ResetSecondFactorForm, StaffPasswordResetForm


def _safe_next(request, candidate):
    """``candidate`` when it is a path on this site, else the staff home."""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(url, next_url):
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class LoginView(auth_views.LoginView):
    """The staff login. An account with a second factor is not logged in by its password: it
    goes on to the code page. One that must have a second factor and has none is logged in and
    sent to set one up (SecondFactorMiddleware keeps it off every staff page until it has)."""

    template_name = "registration/login.html"

    def form_valid(self, form):
        user = form.get_user()
        next_url = self.get_success_url()
        if mfa.has_device(user):
            mfa.start_pending(self.request, user, next_url)
            return redirect("login-code")
        response = super().form_valid(form)
        if mfa.required_for(user):
            return redirect(_with_next(reverse("two-factor-setup"), next_url))
        return response


def admin_login(request):
    """Django admin's login page: the staff login instead, so that its second step cannot be
    walked around."""
    return redirect(_with_next(reverse("login"), request.GET.get("next", reverse("admin:index"))))


@never_cache
@csrf_protect
@sensitive_post_parameters("code")
def login_code(request):
    """The login's second step: a code from the authenticator app or a recovery code. Serves a
    login waiting after its password, and a signed-in login that has not passed yet (one made
    before the account had a second factor, for instance)."""
    if request.user.is_authenticated:
        next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
        if mfa.owed(request) != mfa.CODE:
            return redirect(next_url)
        user, pending = request.user, False
    else:
        user, next_url = mfa.pending_login(request)
        if user is None:
            messages.warning(request, "Please log in again: the code was not given within 5 minutes.")
            return redirect("login")
        pending = True
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, refusal = mfa.check_code(request, user, form.cleaned_data["code"])
        if device is not None:
            if pending:
                mfa.finish_pending(request, user, device)
            else:
                otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = mfa.recovery_codes_left(user)
                messages.warning(request, f"You used a recovery code: {left} left. If your phone is lost, "
                                          f"remove the old app and set up a new one from “Two-factor sign-in”.")
            return redirect(next_url)
        form.add_error("code", refusal)
    return render(request, "registration/login_code.html", {"form": form, "next": next_url if not pending else ""})


def account_page(view=None, *, setting_up=False):
    """A signed-in staff (or admin) account's own second-factor page. A login that owes its
    code gives it first; one that must set up a second factor does that first (unless this is
    the set-up page). Portal accounts have no such pages."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if is_portal_account(request.user):
                raise Http404("Not found.")
            step = mfa.owed(request)
            if step == mfa.CODE:
                return redirect(_with_next(reverse("login-code"), request.get_full_path()))
            if step == mfa.SETUP and not setting_up:
                return redirect(_with_next(reverse("two-factor-setup"), request.get_full_path()))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator(view) if view is not None else decorator


def _devices_page(request, remove_form=None, status=200):
    user = request.user
    return render(request, "registration/two_factor.html", {
        "has_app": mfa.has_app(user),
        "codes_left": mfa.recovery_codes_left(user),
        "required": mfa.required_for(user),
        "remove_form": remove_form or CodeForm(),
    }, status=status)


@never_cache
@account_page
def two_factor(request):
    """The account's second factor: whether it has one, recovery codes left, set up, new codes,
    remove."""
    return _devices_page(request)


@never_cache
@account_page(setting_up=True)
@sensitive_post_parameters("code")
def set_up(request):
    """Set up an authenticator app: scan the QR code (or type the key), confirm with a code,
    then see the recovery codes, once."""
    user = request.user
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if mfa.has_app(user):
        messages.info(request, "Your authenticator app is already set up. To move to a new phone, remove it first.")
        return redirect("two-factor")
    device = mfa.app_being_set_up(user)
    form = ConfirmAppForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = mfa.confirm_app(request, device, form.cleaned_data["code"])
        if codes is not None:
            return render(request, "registration/two_factor_recovery_codes.html",
                          {"codes": codes, "next": next_url, "first_time": True})
        form.add_error("code", "That code is not right. Check that the phone's clock is right, and type the code "
                               "the app shows now.")
    return render(request, "registration/two_factor_setup.html", {
        "form": form, "qr_code": mfa.qr_svg(device), "secret": mfa.secret_text(device), "next": next_url,
        "required": mfa.required_for(user),
    })


@never_cache
@require_POST
@account_page
def recovery_codes(request):
    """New recovery codes, replacing the old ones, shown once."""
    if not mfa.has_app(request.user):
        return redirect("two-factor-setup")
    codes = mfa.regenerate_recovery_codes(request)
    return render(request, "registration/two_factor_recovery_codes.html",
                  {"codes": codes, "next": reverse("two-factor"), "first_time": False})


@never_cache
@require_POST
@account_page
@sensitive_post_parameters("code")
def remove(request):
    """Remove one's own second factor: the app and the recovery codes, after a current code."""
    form = CodeForm(request.POST)
    if form.is_valid():
        refusal = mfa.remove_own(request, form.cleaned_data["code"])
        if refusal is None:
            messages.success(request, "Your authenticator app and recovery codes are removed.")
            return redirect("two-factor")
        form.add_error("code", refusal)
    return _devices_page(request, remove_form=form, status=400)


@never_cache
@account_page
def reset(request):
    """A superuser removes someone else's second factor (a lost phone); audited."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only a superuser can reset someone else's second factor.")
    form = ResetSecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        account = form.cleaned_data["account"]
        mfa.reset(request, account)
        messages.success(request, f"The second factor of {account.get_username()} is removed. They log in with "
                                  f"their password next time and set up a new one.")
        return redirect("two-factor-reset")
    return render(request, "registration/two_factor_reset.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Staff password reset: throttled, e-mailed by the worker, the link valid an hour."""

    form_class = StaffPasswordResetForm
    template_name = "registration/password_reset_form.html"
    subject_template_name = "registration/emails/password_reset_subject.txt"
    email_template_name = "registration/emails/password_reset.txt"
    token_generator = passwords.staff_reset_tokens
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    token_generator = passwords.staff_reset_tokens
    success_url = reverse_lazy("password_reset_complete")
