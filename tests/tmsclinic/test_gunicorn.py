"""gunicorn's settings (tmsclinic/gunicorn.py) come from the environment, and gunicorn itself
accepts them with the Procfile's command."""

import importlib
import subprocess
import sys
from pathlib import Path

import tmsclinic.gunicorn

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_environment(monkeypatch):
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_MAX_REQUESTS"):
        monkeypatch.delenv(name, raising=False)
    config = importlib.reload(tmsclinic.gunicorn)
    assert (config.workers, config.threads, config.timeout, config.max_requests) == (3, 1, 30, 1000)
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.setenv("GUNICORN_THREADS", "2")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "20")
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "0")
    config = importlib.reload(tmsclinic.gunicorn)
    assert (config.workers, config.threads, config.timeout, config.max_requests) == (4, 2, 20, 0)
    monkeypatch.undo()
    importlib.reload(tmsclinic.gunicorn)


def test_the_procfile_web_command_is_a_valid_gunicorn_configuration():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "-c python:tmsclinic.gunicorn" in web
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "python:tmsclinic.gunicorn",
         "--bind", "127.0.0.1:0", "tmsclinic.wsgi"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
