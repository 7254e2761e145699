"""Settings come from the environment; each case runs in a fresh interpreter."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'name': db['NAME'], 'options': db.get('OPTIONS', {}), "
    "'broker': settings.CELERY_BROKER_URL, 'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS, "
    "'email': settings.EMAIL_BACKEND, 'cache': settings.CACHES['default']['BACKEND'], "
    "'acks_late': settings.CELERY_TASK_ACKS_LATE, "
    "'reject_on_lost': settings.CELERY_TASK_REJECT_ON_WORKER_LOST, "
    "'transport': settings.CELERY_BROKER_TRANSPORT_OPTIONS}))"
)
BASE_ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL", "HTTPS"}
}


def run(code_or_args, **env):
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**BASE_ENV, "DJANGO_SETTINGS_MODULE": "tmsclinic.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(**env):
    result = run(PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_is_sqlite_immediate_and_a_serverless_broker():
    settings = probe(DEBUG="true")
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["options"]["transaction_mode"] == "IMMEDIATE"
    assert settings["broker"] == "filesystem://"
    assert settings["email"] == "django.core.mail.backends.console.EmailBackend"


def test_database_and_redis_urls_switch_to_the_real_services():
    settings = probe(
        DEBUG="true",
        DATABASE_URL="postgres://clinic:pw@db.internal:5432/tms",
        REDIS_URL="redis://cache.internal:6379/0",
    )
    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["name"] == "tms"
    assert settings["broker"] == "redis://cache.internal:6379/0"
    assert settings["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert settings["transport"]["visibility_timeout"] >= 600
    assert settings["transport"]["socket_connect_timeout"] <= 5


def test_celery_is_wired_for_production():
    settings = probe(DEBUG="true")
    assert settings["acks_late"] is True
    assert settings["reject_on_lost"] is True


def test_hosts_and_email_come_from_the_environment():
    settings = probe(
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="tms.example.org,10.0.0.5",
        EMAIL_URL="smtp+tls://mailer:secret@smtp.example.org:587",
    )
    assert settings["debug"] is False
    assert settings["hosts"] == ["tms.example.org", "10.0.0.5"]
    assert settings["email"] == "django.core.mail.backends.smtp.EmailBackend"


def test_production_refuses_to_start_without_a_secret_key():
    result = run(PROBE, ALLOWED_HOSTS="tms.example.org")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


@pytest.mark.parametrize("database_url", ["", "postgres://clinic:pw@db.internal:5432/tms"])
def test_check_deploy_is_clean_with_production_variables(database_url, tmp_path):
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "tms.example.org",
        "TMS_VAR_DIR": str(tmp_path),
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_connections_can_be_set_for_pgbouncer_in_transaction_pooling():
    code = ("import json, django; from django.conf import settings; django.setup(); "
            "db = settings.DATABASES['default']; "
            "print(json.dumps([db['CONN_MAX_AGE'], db['DISABLE_SERVER_SIDE_CURSORS'], "
            "settings.CELERY_WORKER_CONCURRENCY]))")
    postgres = {"DEBUG": "true", "DATABASE_URL": "postgres://clinic:pw@db.internal:5432/tms"}
    result = run(code, **postgres)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [60, False, None]  # persistent connections; one worker process per CPU
    result = run(code, **postgres, CONN_MAX_AGE="0", DISABLE_SERVER_SIDE_CURSORS="true", CELERY_WORKER_CONCURRENCY="2")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [0, True, 2]
