"""One settings module for every environment, driven by environment variables.

With nothing set, the app runs on an embedded default (SQLite and a Celery broker on the
file system, both under ``var/``) so that ``make run`` works on a fresh machine. Production
sets ``DATABASE_URL`` and ``REDIS_URL``; README.md lists every variable.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment variables win

VAR_DIR = BASE_DIR / env("TMS_VAR_DIR", default="var")  # relative to the project, or absolute
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# The default key only works with DEBUG on, so a production deploy cannot forget to set one.
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Django's own widget templates, for FORM_RENDERER below.
    "django.forms",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "bootstrap",
    "phonenumber_field",
    "axes",
    # The second factor for staff (tmsclinic/accounts): TOTP devices and one-time recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "pgtrigger",
    "tmsclinic.apps.TmsClinicConfig",
    "patients",
    "scheduling",
]

# Widgets render through TEMPLATES, so templates/ can replace one: admin's date-and-time
# widget gets <label>s for its two boxes (templates/admin/widgets/split_datetime.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

MIDDLEWARE = [
    # A balancer's probe of /healthz at a node's own address (a Host not in ALLOWED_HOSTS).
    "tmsclinic.middleware.HealthByAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy on every page (CONTENT_SECURITY_POLICY below); static files above do without.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this login passed the second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Cache-Control: no-store, private on every response to a signed-in user.
    "tmsclinic.middleware.NoStoreWhenSignedInMiddleware",
    # Ends idle and over-age logins before any view (or the audit trail) sees the request.
    "tmsclinic.middleware.AutomaticLogoffMiddleware",
    # No /staff/ or /admin/ page until the second factor is passed (or set up, where required).
    "tmsclinic.accounts.middleware.SecondFactorMiddleware",
    # One audit event per staff, portal and admin request, once the view has named its patient.
    "tmsclinic.audit.AuditMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tmsclinic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tmsclinic.context_processors.roles",
                "tmsclinic.logoff.context",
            ],
        },
    },
]

WSGI_APPLICATION = "tmsclinic.wsgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tmsclinic.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so a booking's
    # check-then-insert cannot interleave with another's on SQLite.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test.sqlite3")
else:
    # Seconds a process keeps its connection between requests (0: one per request). Behind
    # pgbouncer in transaction pooling, set CONN_MAX_AGE=0 and DISABLE_SERVER_SIDE_CURSORS=true:
    # a server-side cursor (.iterator()) does not survive the pooler handing the connection on.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ----------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CACHES["throttle"] = {**CACHES["default"], "KEY_PREFIX": "throttle"}
    CACHES["figures"] = {**CACHES["default"], "KEY_PREFIX": "figures"}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        },
        "throttle": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "throttle-cache"),
        },
        "figures": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "figures-cache"),
        },
    }
# "throttle" holds the password-reset request counters (tmsclinic/accounts/passwords.py), apart
# from the rest so that each test can start from none; "figures" the adherence dashboard's
# figures (aggregates, no patient's name or record), shared by its readers for
# TMS_ADHERENCE_MAX_AGE_SECONDS (0: computed on every read).
TMS_ADHERENCE_MAX_AGE_SECONDS = env.int("TMS_ADHERENCE_MAX_AGE_SECONDS", default=300)
if TMS_ADHERENCE_MAX_AGE_SECONDS < 0:
    raise ImproperlyConfigured("TMS_ADHERENCE_MAX_AGE_SECONDS cannot be negative (0 turns the sharing off)")

# --- Celery ---------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task unacknowledged this long is redelivered; longer than any task runs.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 2,
    }
else:
    # kombu's file-system transport needs no server: worker and web share a folder.
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker reconnects for as long as the broker is away (None: no limit); with a limit it
# exits once that is spent, and reminders wait for someone to restart it. Publishing does not
# use this setting (see CELERY_BROKER_TRANSPORT_OPTIONS and CELERY_TASK_PUBLISH_RETRY).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Publishing from a web request tries once and gives up quickly; the database is the
# source of truth, so beat catches up with whatever did not get enqueued.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Task processes per `celery worker` (unset: one per CPU); each holds one database connection.
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Every job works from database state, so a missed or repeated run is harmless.
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "tmsclinic.tasks.heartbeat", "schedule": 60.0},
    "flag-overdue-patients": {"task": "scheduling.tasks.flag_overdue_patients", "schedule": 3600.0},
    "send-due-reminders": {"task": "scheduling.tasks.send_due_reminders", "schedule": 60.0},
    "offer-freed-slots": {"task": "scheduling.tasks.offer_freed_slots", "schedule": 60.0},
    "run-outreach": {"task": "scheduling.tasks.run_outreach", "schedule": 60.0},
    "mark-no-shows": {"task": "scheduling.tasks.mark_no_shows", "schedule": 15 * 60.0},
    "nudge-due-soon": {"task": "scheduling.tasks.nudge_due_soon", "schedule": crontab(hour=15, minute=0)},
    "staff-digest": {"task": "scheduling.tasks.send_staff_digest", "schedule": crontab(hour=12, minute=0)},
    "prune-audit": {"task": "tmsclinic.tasks.prune_audit", "schedule": crontab(hour=7, minute=30)},
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a web login while its username and address are locked out (django-axes).
    "tmsclinic.auth.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins: after AXES_FAILURE_LIMIT for one username from one address, that pair is
# locked out for AXES_COOLOFF_TIME hours; after AXES_IP_FAILURE_LIMIT from one address whatever
# the usernames (password spraying), the address is (tmsclinic.auth.LockoutHandler).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_IP_FAILURE_LIMIT = env.int("AXES_IP_FAILURE_LIMIT", default=30)
AXES_COOLOFF_TIME = env.int("AXES_COOLOFF_TIME", default=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "tmsclinic.auth.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Portal usernames are e-mail addresses: one lockout whatever their capitals.
AXES_USERNAME_CALLABLE = "tmsclinic.auth.username_for_lockout"
# Portal invitation and password-reset links work this long (seconds), and once.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
# Staff password-reset links work this long (seconds), and once.
TMS_STAFF_RESET_TIMEOUT = env.int("TMS_STAFF_RESET_TIMEOUT", default=3600)
# Password-reset requests (staff and portal) per address and per client address in a window;
# more are refused with a message that says nothing of whether the account exists.
TMS_RESET_PER_ADDRESS = env.int("TMS_RESET_PER_ADDRESS", default=3)
TMS_RESET_PER_IP = env.int("TMS_RESET_PER_IP", default=10)
TMS_RESET_WINDOW_MINUTES = env.int("TMS_RESET_WINDOW_MINUTES", default=60)
# The second factor (tmsclinic/accounts): required of the listed staff roles, and of every
# superuser and admin (is_staff) account, when TMS_MFA_REQUIRED is on. Anyone who has set one up
# is asked for it whatever these say; portal accounts never are.
TMS_MFA_REQUIRED = env.bool("TMS_MFA_REQUIRED", default=not DEBUG)
_STAFF_ROLES = ("Front desk", "Technician", "Clinician", "Clinic admin")  # tmsclinic.roles.STAFF_ROLES
TMS_MFA_ROLES = env.list("TMS_MFA_ROLES", default=list(_STAFF_ROLES))
if set(TMS_MFA_ROLES) - set(_STAFF_ROLES):
    raise ImproperlyConfigured(
        f"TMS_MFA_ROLES names unknown roles {sorted(set(TMS_MFA_ROLES) - set(_STAFF_ROLES))}; "
        f"the roles are {', '.join(_STAFF_ROLES)}"
    )
OTP_TOTP_ISSUER = "TMS Clinic"
# Django admin's pages for devices never show a secret key or a QR code again.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Least privilege ------------------------------------------------------------------------
# Technicians may enter a PHQ-9 at the chair where the clinic wants them to (tmsclinic.roles).
TMS_TECHNICIANS_RECORD_PHQ9 = env.bool("TMS_TECHNICIANS_RECORD_PHQ9", default=False)

# --- Audit trail ----------------------------------------------------------------------------
# The key of the audit trail's HMAC chain; kept out of the database so whoever can write to it
# cannot forge a consistent chain. Changing it makes older events fail verify_audit.
TMS_AUDIT_KEY = env("TMS_AUDIT_KEY", default="")
# Events older than this are pruned daily (HIPAA keeps security documentation six years).
TMS_AUDIT_RETENTION_DAYS = env.int("TMS_AUDIT_RETENTION_DAYS", default=6 * 366)

# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Stored in UTC; every clinic's times are shown and reckoned in that clinic's own zone.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
PHONENUMBER_DEFAULT_REGION = env("PHONENUMBER_DEFAULT_REGION", default="US")

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="TMS Clinic <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security (production) ------------------------------------------------------------------
# Trust X-Forwarded-Proto only when a TLS-terminating proxy in front sets it (and strips a
# client's own); otherwise anyone could claim HTTPS by sending the header.
TMS_BEHIND_TLS_PROXY = env.bool("TMS_BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TMS_BEHIND_TLS_PROXY else None
# HTTPS=false only for a plain-HTTP install on a closed network (and for the test server).
HTTPS = env.bool("HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Monitors that present "Authorization: Bearer <token>" see /healthz's details (as staff do).
TMS_HEALTHZ_TOKEN = env("TMS_HEALTHZ_TOKEN", default="")

# --- Automatic logoff (tmsclinic/logoff.py) ---------------------------------------------------
# A login lasts at most this long however active it is (enforced from the login time), and
# ends when the browser closes.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
TMS_STAFF_IDLE_MINUTES = env.int("TMS_STAFF_IDLE_MINUTES", default=15)
TMS_PORTAL_IDLE_MINUTES = env.int("TMS_PORTAL_IDLE_MINUTES", default=30)
# The page warns this many seconds before an idle logoff, with a "Stay signed in" button.
TMS_LOGOFF_WARNING_SECONDS = env.int("TMS_LOGOFF_WARNING_SECONDS", default=60)

# --- Content-Security-Policy (django-csp) -----------------------------------------------------
# Only the site's own files: no inline script or event handler anywhere, no inline style
# except a page's own <style> carrying the request's nonce (the day view's grid). "data:"
# images are Bootstrap's CSS icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- Clinic rules (clinical choices are settings, not constants) ----------------------------
DEMO_PASSWORD = env("DEMO_PASSWORD", default="tms-demo-2026")
# Booking grid: candidate start times every this many minutes from opening time.
TMS_SLOT_STEP_MINUTES = env.int("TMS_SLOT_STEP_MINUTES", default=15)
# Chair time for an appointment with no protocol (a consultation).
TMS_CONSULT_MINUTES = env.int("TMS_CONSULT_MINUTES", default=30)
# The motor threshold must be measured again after this many treatment sessions since the last
# measurement (0: never by count), and after this many calendar days (7: weekly; 0: never by
# date). Mapping visits, a course's first session, medication changes and clinicians' requests
# always ask for it (scheduling/services/motor_threshold.py).
TMS_MT_RECHECK_EVERY = env.int("TMS_MT_RECHECK_EVERY", default=5)
TMS_MT_RECHECK_DAYS = env.int("TMS_MT_RECHECK_DAYS", default=0)
# The maintenance plan a clinician is offered first when an acute course is completed (by name,
# among the plan templates in admin); the others stay one click away.
TMS_DEFAULT_PLAN_TEMPLATE = env("TMS_DEFAULT_PLAN_TEMPLATE", default="Taper to monthly")
# Authorised sessions left at or below which staff are warned.
TMS_AUTH_WARN_AT = env.int("TMS_AUTH_WARN_AT", default=3)
# During maintenance, a PHQ-9 this many points above the end of the acute course, or a total
# at or above TMS_WORSENING_TOTAL, raises a worsening-symptoms flag.
TMS_WORSENING_RISE = env.int("TMS_WORSENING_RISE", default=5)
TMS_WORSENING_TOTAL = env.int("TMS_WORSENING_TOTAL", default=10)
# Two no-shows within this many days (or two in a row) raise a missed-appointments flag.
TMS_MISSED_WINDOW_DAYS = env.int("TMS_MISSED_WINDOW_DAYS", default=60)
# The worklist suggests no slot sooner than this many minutes from now (time to reach the patient).
TMS_SUGGEST_LEAD_MINUTES = env.int("TMS_SUGGEST_LEAD_MINUTES", default=120)
# The MRN given to a new patient whose MRN is left blank: {number} is a database sequence (the
# patient's row number), so two front desks saving at once never get the same one.
TMS_MRN_FORMAT = env("TMS_MRN_FORMAT", default="TMS-{number:06d}")
try:
    _mrn_sample = TMS_MRN_FORMAT.format(number=999999999)
except (KeyError, IndexError, ValueError) as error:
    raise ImproperlyConfigured(f"TMS_MRN_FORMAT {TMS_MRN_FORMAT!r} is not a format with only {{number}}") from error
# 29 characters leave room for a suffix ("-1") in the 32 an MRN may have.
if TMS_MRN_FORMAT.format(number=1) == TMS_MRN_FORMAT.format(number=2) or len(_mrn_sample) > 29:
    raise ImproperlyConfigured(f"TMS_MRN_FORMAT {TMS_MRN_FORMAT!r} must use {{number}} and give at most 29 characters")
# The address staff use, for links in e-mails.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# --- Reminders ------------------------------------------------------------------------------
TMS_REMINDER_DAY_BEFORE_AT = env("TMS_REMINDER_DAY_BEFORE_AT", default="17:00")
TMS_REMINDER_HOURS_BEFORE = env.int("TMS_REMINDER_HOURS_BEFORE", default=2)
# No SMS between these clinic times: held until the end, unless that is after the session.
TMS_QUIET_HOURS = env("TMS_QUIET_HOURS", default="21:00-08:00")
TMS_REMINDER_MAX_ATTEMPTS = env.int("TMS_REMINDER_MAX_ATTEMPTS", default=5)
# Reminders a worker claims and sends at once; a run that claims a full batch enqueues another
# run, so that idle workers take the next batches (several workers share a backlog).
TMS_REMINDER_BATCH = env.int("TMS_REMINDER_BATCH", default=500)
# Days before a maintenance visit falls due that the "book your session" nudge goes out.
TMS_DUE_SOON_DAYS = env.int("TMS_DUE_SOON_DAYS", default=5)
# Check-in opens this many minutes before a session starts (never before its day); a session
# is completed only once it has started.
TMS_CHECK_IN_OPENS_MINUTES = env.int("TMS_CHECK_IN_OPENS_MINUTES", default=60)
# A session still booked this many minutes after its end becomes a no-show.
TMS_AUTO_NO_SHOW_MINUTES = env.int("TMS_AUTO_NO_SHOW_MINUTES", default=30)
# How long the confirm/cancel link in a reminder works.
TMS_REMINDER_LINK_DAYS = env.int("TMS_REMINDER_LINK_DAYS", default=14)
# Patients may cancel from a reminder up to this many hours before the session.
TMS_CANCEL_NOTICE_HOURS = env.int("TMS_CANCEL_NOTICE_HOURS", default=24)
TMS_SMS_BACKEND = env("TMS_SMS_BACKEND", default="scheduling.sms.ConsoleBackend")
TMS_SMS_FILE_PATH = env("TMS_SMS_FILE_PATH", default=str(VAR_DIR / "sms.jsonl"))
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env("TWILIO_FROM", default="")

# --- Portal self-booking ----------------------------------------------------------------------
# A maintenance visit can be booked from the portal this many days before it falls due, until
# the end of its grace days (reckoned in the clinic's zone).
TMS_PORTAL_BOOK_DAYS_BEFORE = env.int("TMS_PORTAL_BOOK_DAYS_BEFORE", default=7)
# A maintenance patient past their grace days (lapsed) may still book the next visit in the
# portal, within this many days from today; staff see it was booked after a lapse. Past
# TMS_PORTAL_LAPSED_CALL_DAYS overdue they are asked to call: the clinician may want a
# reintroduction course rather than a maintenance session.
TMS_PORTAL_LAPSED_BOOK_DAYS = env.int("TMS_PORTAL_LAPSED_BOOK_DAYS", default=14)
TMS_PORTAL_LAPSED_CALL_DAYS = env.int("TMS_PORTAL_LAPSED_CALL_DAYS", default=60)
# Outreach (issue 14): how long the self-booking link in a cadence's message works, how many
# times it offers, and the shared secret an SMS provider's inbound webhook (a patient's STOP reply)
# must send (empty: the webhook is off).
TMS_OUTREACH_LINK_DAYS = env.int("TMS_OUTREACH_LINK_DAYS", default=7)
TMS_OUTREACH_OFFERED_TIMES = env.int("TMS_OUTREACH_OFFERED_TIMES", default=6)
TMS_SMS_INBOUND_TOKEN = env("TMS_SMS_INBOUND_TOKEN", default="")
# Patients book at least this many hours ahead; the front desk takes anything sooner.
TMS_PORTAL_MIN_NOTICE_HOURS = env.int("TMS_PORTAL_MIN_NOTICE_HOURS", default=24)
# How many live future appointments a patient may hold when booking from the portal.
TMS_PORTAL_MAX_FUTURE_BOOKINGS = env.int("TMS_PORTAL_MAX_FUTURE_BOOKINGS", default=2)
# Who hears about a cancellation from the portal; empty means every active front-desk user.
TMS_FRONT_DESK_EMAILS = env.list("TMS_FRONT_DESK_EMAILS", default=[])
# Reintroduction sessions (when staff allow the patient to book them) can be booked this many
# days ahead.
TMS_PORTAL_REINTRODUCTION_DAYS_AHEAD = env.int("TMS_PORTAL_REINTRODUCTION_DAYS_AHEAD", default=14)

# --- Portal check-ins ------------------------------------------------------------------------
# A patient may send a PHQ-9 from the portal at most once in this many days.
TMS_PORTAL_PHQ9_EVERY_DAYS = env.int("TMS_PORTAL_PHQ9_EVERY_DAYS", default=7)

# --- Waitlist: freed chair time offered to waiting patients ------------------------------------
# How many waiting patients a freed time is offered to at once, and how long each offer holds
# it for them; when holds run out or are declined, the next ones are offered it.
TMS_WAITLIST_BATCH = env.int("TMS_WAITLIST_BATCH", default=1)
TMS_WAITLIST_HOLD_MINUTES = env.int("TMS_WAITLIST_HOLD_MINUTES", default=30)
# No offer for a time starting sooner than this many hours from now.
TMS_WAITLIST_NOTICE_HOURS = env.int("TMS_WAITLIST_NOTICE_HOURS", default=3)
# A chair put back in service offers its free time over this many days ahead.
TMS_WAITLIST_CHAIR_BACK_DAYS = env.int("TMS_WAITLIST_CHAIR_BACK_DAYS", default=7)
