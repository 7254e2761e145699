# Two commands set everything up: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PASSWORD ?= tms-demo-2026
export DEMO_PASSWORD

.PHONY: install lock run test lint bench loadtest clean

# requirements*.txt are compiled by pip-tools from requirements*.in (`make lock`): every package
# pinned, with hashes, pip included, so pip checks every file it installs.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	@touch $@

install: $(STAMP)

# Recompile requirements.txt and requirements-dev.txt from the .in files. Pins already in them
# are kept; to move one package: make lock ARGS="--upgrade-package celery" (or
# ARGS="--upgrade-package celery==VERSION"); to move everything: make lock ARGS=--upgrade.
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links $(ARGS)
lock: $(STAMP)
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements.in requirements-dev.in

# The embedded default: SQLite and a file-system broker under var/, web + worker + beat.
run: export DEBUG ?= true
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	@echo ""
	@echo "  TMS Clinic is starting at  http://127.0.0.1:8000/"
	@echo "  Staff logins (password: $(DEMO_PASSWORD)):"
	@echo "    frontdesk, technician, clinician   — the staff pages"
	@echo "    clinicadmin                        — http://127.0.0.1:8000/admin/ (clinics, staff, audit trail)"
	@echo "    admin                              — superuser: everything"
	@echo ""
	$(BIN)/honcho start -f Procfile.dev

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The deployment under load (benchmarks/loadtest.py): gunicorn, two Celery workers and beat on a
# dedicated local PostgreSQL database and Redis db, the seeded chain, 200 portal patients and 20
# staff for two minutes; then no double-booking and no reminder sent twice. Not part of `make test`.
loadtest: $(STAMP)
	$(BIN)/python benchmarks/loadtest.py

clean:
	rm -rf $(VENV) var
