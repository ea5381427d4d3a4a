# Lookout: `make run` serves the dashboard with embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1
CONCURRENCY ?= 2

.PHONY: install system-deps run worker beat test test-fast lint load vendor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'skyvern==1.0.56'  # only skyvern.client (needs httpx, pydantic), for the API tests; its full dependency tree pins rich<14, which import-linter cannot use
	touch $@

system-deps:
	@sh scripts/system-deps.sh

install: system-deps $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap
	$(BIN)/python -m daphne -b $(HOST) -p $(PORT) project.asgi:application

worker: install
	$(BIN)/celery -A project worker -l INFO --concurrency=$(CONCURRENCY) -B -s var/celerybeat-schedule

test: install
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The load bench: the production stack (daphne, Celery workers) under concurrent runs and websocket viewers.
# Needs PostgreSQL and Redis (bench/load.py's docstring); flags through ARGS, e.g.
#   make load ARGS="--runs 8 --viewers 100 --breakdown"
load: install
	$(BIN)/python bench/load.py $(ARGS)

clean:
	rm -rf $(VENV) var/staticfiles
