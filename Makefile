# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BABEL := $(PY) -m babel.messages.frontend
# How requirements.lock is made from pyproject.toml (`make upgrade`): every package of the
# runtime and of the dev extra, pip and setuptools included, without this machine's
# package index or wheel folders.
LOCK_OPTIONS := --allow-unsafe --extra dev --strip-extras --no-emit-index-url \
	--no-emit-find-links -o requirements.lock pyproject.toml

.PHONY: run test install lock upgrade catalogs compile lint bench clean

# The exact versions of requirements.lock, then the project itself on top of them.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed compile

## After editing pyproject.toml's dependencies: the lock follows, keeping its versions
## where the ranges still allow them.
lock: $(VENV)/.installed
	$(PY) -m piptools compile --quiet $(LOCK_OPTIONS)
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(VENV)/.installed

## Newest versions within pyproject.toml's ranges into requirements.lock, and installed.
## Then check them: `make lint test` and `make bench` (README, "Upgrading dependencies").
upgrade: $(VENV)/.installed
	$(PY) -m piptools compile --quiet --upgrade $(LOCK_OPTIONS)
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(VENV)/.installed

# The catalogs, and Kazakh's in Latin and tote written from the Kazakh one.
DERIVE := $(PY) -c "from bot.core.i18n import compile_catalogs; compile_catalogs()"

compile: $(VENV)/.installed
	$(BABEL) compile -D bot -d locales --statistics
	$(DERIVE)

## Talk to the bot: Telegram with BOT_TOKEN set, otherwise the terminal chat.
## The coordinators' dashboard in dev mode: PUBLIC_BASE_URL=http://127.0.0.1:8080 and
## ADMIN_IDS=1 in .env, then `make run CHAT_USER=1` and type /dashboard for a sign-in link.
run: install
	@if [ -n "$$BOT_TOKEN$$WHATSAPP_TOKEN" ] || grep -qsE '^(BOT_TOKEN|WHATSAPP_TOKEN)=.+' .env; then \
		$(PY) -m bot run; \
	else \
		$(PY) -m bot chat $(if $(CHAT_USER),--user $(CHAT_USER)); \
	fi

## The test suite; set TEST_POSTGRES_URL to run the database tests on PostgreSQL too.
test: install
	$(PY) -m pytest -q -n 2

lint: install
	$(PY) -m ruff check bot handlers tests bench migrations scripts
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

## After changing user-visible strings: extract, merge into the catalogs, compile.
catalogs: $(VENV)/.installed
	$(BABEL) extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location --sort-output \
		--omit-header -o locales/bot.pot bot handlers
	$(BABEL) update -D bot -i locales/bot.pot -d locales --no-fuzzy-matching \
		--ignore-obsolete --width 100
	$(PY) scripts/fill_english.py
	$(BABEL) compile -D bot -d locales --statistics
	$(DERIVE)

bench: install
	$(PY) -m bench.telegram_webhook

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
