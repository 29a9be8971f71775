# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BABEL := $(PY) -m babel.messages.frontend

.PHONY: run test install catalogs compile lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed compile

compile: $(VENV)/.installed
	$(BABEL) compile -D bot -d locales --statistics

## Talk to the bot: Telegram with BOT_TOKEN set, otherwise the terminal chat.
run: install
	@if [ -n "$$BOT_TOKEN$$WHATSAPP_TOKEN" ] || grep -qsE '^(BOT_TOKEN|WHATSAPP_TOKEN)=.+' .env; then \
		$(PY) -m bot run; \
	else \
		$(PY) -m bot chat; \
	fi

## The test suite; set TEST_POSTGRES_URL to run the database tests on PostgreSQL too.
test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check bot handlers tests bench migrations scripts
	$(PY) -m mypy

## After changing user-visible strings: extract, merge into the catalogs, compile.
catalogs: $(VENV)/.installed
	$(BABEL) extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location --sort-output \
		--omit-header -o locales/bot.pot bot handlers
	$(BABEL) update -D bot -i locales/bot.pot -d locales --no-fuzzy-matching \
		--ignore-obsolete --width 100
	$(PY) scripts/fill_english.py
	$(BABEL) compile -D bot -d locales --statistics

bench: install
	$(PY) -m bench.telegram_webhook

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
