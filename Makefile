# IAQverse: every target installs what it needs first, so a fresh checkout needs only Python 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
URL ?= http://localhost:$(or $(IAQ_PORT),8080)
export IAQ_DATA_DIR ?= ./data

.PHONY: help install install-dev run run-simulator test test-fast lint format translations health init-db backup restore clean clean-db bench bench-influx bench-memory

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install the platform

install-dev: $(VENV)/.installed-dev  ## install the platform and the test tools

run: install  ## start the platform on http://localhost:8080 with embedded defaults and demo rooms
	IAQ_DEMO=$${IAQ_DEMO:-1} $(PY) -m app

run-simulator: install  ## feed a running platform with simulated rooms (URL=..., API_KEY=..., ROOMS=3)
	$(PY) -m services.simulator --url $(URL) $(if $(API_KEY),--api-key $(API_KEY)) \
	  --rooms $(or $(ROOMS),3) --interval $(or $(INTERVAL),5)

test: install-dev  ## run the whole test suite (lint and layer contracts included), a test file per core
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: install-dev  ## the edit-test loop: unit and API tests but the slow ones, on both cores (under a minute)
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow" tests/unit tests/api

lint: install-dev  ## check style, common bugs and the layers' import contracts (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev  ## rewrite the code in the project's style
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BABEL_KEYWORDS := -k N_ -k C_:1c,2 -k ngettext:1,2 -k pgettext:1c,2
translations: install-dev  ## extract the messages into locales/messages.pot and update every locales/<lang>/ .po (NEW_LANGUAGE=de starts one)
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output --project IAQverse \
	  --copyright-holder IAQverse -o locales/messages.pot .
	$(if $(NEW_LANGUAGE),$(BIN)/pybabel init -i locales/messages.pot -d locales -l $(NEW_LANGUAGE))
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-fuzzy-matching --ignore-obsolete --width 110
	@echo "translate the empty msgstr entries of locales/*/LC_MESSAGES/messages.po (the tests list those missing)"

health:  ## ask a running platform for its health
	@curl -fsS $(URL)/health && echo || (echo "platform at $(URL) is unhealthy or not running"; exit 1)

init-db: install  ## create or upgrade the database (also done at every start)
	$(PY) -m app.cli init-db

backup: install  ## write a consistent copy of the database into $(IAQ_DATA_DIR)/backups
	$(PY) -m app.cli backup

restore: install  ## put a backup back (FILE=data/backups/...; the platform must be stopped; asks first)
	$(PY) -m app.cli restore $(FILE)

bench: install-dev  ## run the ingestion benchmark (needs wrk)
	$(PY) bench/ingest.py

bench-influx: install-dev  ## SQLite next to InfluxDB, and ingestion on InfluxDB (needs influxd: apt-get install influxdb)
	$(PY) bench/influx.py

bench-memory: install-dev  ## the platform's memory: an hour of 200 rooms, then 50 dashboard tabs (needs chromium)
	$(PY) bench/memory.py

clean:  ## remove caches and build files (keeps data/ and .venv/)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

clean-db:  ## delete the local database (asks first)
	@printf "Delete every reading and the configuration in $(IAQ_DATA_DIR)? [y/N] "; read ans; \
	  [ "$$ans" = y ] && rm -f $(IAQ_DATA_DIR)/iaqverse.db* && echo deleted || echo kept
