# tracker: `make run` serves the app with demo data, `make test` runs the whole suite.
# Everything the two need is set up here, from a fresh clone, idempotently.

PYTHON ?= python3
VENV   ?= .venv
HOST   ?= 127.0.0.1
PORT   ?= 5000
WORKERS ?= 2
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app tracker
VENDOR := static/vendor
# The browser tests drive the machine's Chromium (no browser download); tests/browser reads it.
CHROMIUM ?= $(or $(shell command -v chromium 2>/dev/null),/usr/bin/chromium)
export CHROMIUM

.PHONY: run test setup assets translations db demo lint bench clean help browser-check

help:
	@echo "make run    - set up, migrate, load demo data if empty, serve on http://$(HOST):$(PORT)"
	@echo "make test   - set up and run the whole test suite (browser and slow tests included)"
	@echo "make bench  - speed and scale measurements (see bench/README.md)"

$(BIN)/activate:
	$(PYTHON) -c 'import sys; sys.exit("tracker needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# python-ldap (LDAP sign-in) compiles against OpenLDAP's headers: with them, the "ldap" extra
# is installed too; without them tracker runs with local passwords and says so here.
comma := ,
LDAP_HEADERS := $(wildcard /usr/include/ldap.h)
EXTRAS := $(if $(LDAP_HEADERS),dev$(comma)ldap,dev)

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(if $(LDAP_HEADERS),,@echo "note: no OpenLDAP headers (apt-get install libldap2-dev libsasl2-dev): LDAP sign-in and its tests are left out")
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Front-end packages are served from static/vendor, copied from node_modules; not committed.
$(VENDOR)/.installed: node_modules/.installed
	rm -rf $(VENDOR)
	mkdir -p $(VENDOR)/kern $(VENDOR)/htmx $(VENDOR)/axe
	cp node_modules/@kern-ux/native/dist/kern.min.css $(VENDOR)/kern/
	cp -r node_modules/@kern-ux/native/dist/fonts $(VENDOR)/kern/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp node_modules/axe-core/axe.min.js $(VENDOR)/axe/
	touch $@

assets: $(VENDOR)/.installed

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d tracker/translations

setup: $(VENV)/.installed assets translations

db: setup
	$(FLASK) db upgrade
	$(FLASK) demo-data --if-empty

run: db
	@$(FLASK) demo-logins
	@echo "tracker runs on http://$(HOST):$(PORT) with its background worker (Ctrl+C stops both)"
	@$(FLASK) worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile - 'wsgi:app'

# Before any set-up: without Chromium, say in one line what to install (unless the browser
# tests are deselected) instead of ending in one error per browser test.
BROWSER_HINT = Browser tests need Chromium ($(CHROMIUM) is missing): run \
`sudo apt-get install chromium fonts-dejavu-core` (or `sudo bash .ci/run`), \
or `make test PYTEST_ARGS='-m "not browser"'` to skip them
browser-check:
	$(if $(or $(findstring not browser,$(PYTEST_ARGS)),$(shell command -v '$(CHROMIUM)' 2>/dev/null)),,$(error $(BROWSER_HINT)))
	@:

# pytest exits 5 when it collected no test: that is a failure, not a pass.
test: browser-check setup
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no test: failing"; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache
