# Two commands set everything up: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PASSWORD ?= tms-demo-2026
export DEMO_PASSWORD

.PHONY: install run test lint bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(STAMP)

# The embedded default: SQLite and a file-system broker under var/, web + worker + beat.
run: export DEBUG ?= true
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	@echo ""
	@echo "  TMS Clinic is starting at  http://127.0.0.1:8000/"
	@echo "  Staff logins (password: $(DEMO_PASSWORD)):"
	@echo "    frontdesk, technician, clinician   — the staff pages"
	@echo "    clinicadmin, admin                 — also http://127.0.0.1:8000/admin/"
	@echo ""
	$(BIN)/honcho start -f Procfile.dev

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) var
