"""Portal accounts: login by e-mail, logout, password reset, and setting a password from an
invitation's or a reset's one-time link."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse_lazy

from patients.models import Patient
from tmsclinic.roles import refuse_another_patient

from .forms import PortalLoginForm, PortalPasswordResetForm


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalLoginForm
    next_page = reverse_lazy("portal:home")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset.html"
    form_class = PortalPasswordResetForm
    email_template_name = "portal/emails/password_reset.txt"
    subject_template_name = "portal/emails/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password-reset-sent")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Both the invitation's and the password reset's link: set a password, once, then land
    on the portal home signed in. A used, expired or foreign link is a 404 page."""

    template_name = "portal/set_password.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("portal:home")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is None:
            return None
        try:
            active = user.patient.status == Patient.Status.ACTIVE
        except ObjectDoesNotExist:
            active = False
        if not active:
            return None
        refuse_another_patient(self.request, user.patient.pk)
        return user

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        if not self.validlink and response.status_code == 200:
            response.status_code = 404
        return response

    def form_valid(self, form):
        messages.success(self.request, "Your password is set. Welcome to your patient portal.")
        return super().form_valid(form)
