"""The whole /accounts/ map: the staff login and its second step, the second-factor pages, and
the password pages (Django's names, so ``{% url 'password_reset' %}`` and admin's links work)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

login_urls = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.login_code, name="login-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

two_factor_urls = [
    path("two-factor/", views.two_factor, name="two-factor"),
    path("two-factor/set-up/", views.set_up, name="two-factor-setup"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="two-factor-recovery-codes"),
    path("two-factor/remove/", views.remove, name="two-factor-remove"),
    path("two-factor/reset/", views.reset, name="two-factor-reset"),
]

password_urls = [
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/",
         auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html"),
         name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/",
         auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html"),
         name="password_reset_complete"),
]

urlpatterns = [*login_urls, *two_factor_urls, *password_urls]
