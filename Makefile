# Làng Số. `make run` and `make test` are all a newcomer needs (README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format translations compile-translations migrate bench bench-scale clean

$(BIN)/langso: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/langso
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

compile-translations: $(BIN)/langso
	$(BIN)/pybabel compile -d locales -D messages
	$(BIN)/python -m server.i18n js

run: compile-translations
	$(BIN)/langso migrate
	$(BIN)/langso load-guides
	HOST=$(HOST) PORT=$(PORT) $(BIN)/langso serve

lint: $(VENV)/.dev
	$(BIN)/ruff format --check server tests bench
	$(BIN)/ruff check server tests bench

format: $(VENV)/.dev
	$(BIN)/ruff format server tests bench
	$(BIN)/ruff check --fix server tests bench

test: $(VENV)/.dev compile-translations lint
	$(BIN)/pytest

translations: $(VENV)/.dev
	$(BIN)/pybabel extract -F locales/babel.cfg -o locales/messages.pot --no-location --sort-by-file --project "Làng Số" -k lazy .
	for l in vi en; do \
	  if [ -f locales/$$l/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -i locales/messages.pot -d locales -l $$l --no-fuzzy-matching --ignore-obsolete; \
	  else $(BIN)/pybabel init -i locales/messages.pot -d locales -l $$l; fi; \
	done

bench: $(VENV)/.dev compile-translations
	$(BIN)/python -m bench

# 1 and 2 app processes on one PostgreSQL database under 200 volunteers and 50 residents
# (bench/scale.py; SCALE_SECONDS=60 each, about five minutes in all), loopback only.
BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
bench-scale: $(VENV)/.dev compile-translations
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.scale --seconds $${SCALE_SECONDS:-60}

clean:
	rm -rf $(VENV) pwa/i18n locales/*/LC_MESSAGES/*.mo
