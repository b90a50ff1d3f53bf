# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
WORKER_VENV := .venv-worker
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint typecheck imports unit bench clean venv node checkov worker

# Kerberos (auth: kerberos, and the tests' KDC) needs MIT Kerberos from Debian. As root (CI, a fresh machine)
# they are installed when missing; otherwise the Kerberos tests skip and say what is missing.
KRB5_DEBS := krb5-kdc krb5-admin-server krb5-user libkrb5-dev faketime

$(STAMP): requirements.txt requirements-dev.txt requirements-kerberos.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	@if ! command -v krb5-config >/dev/null 2>&1 || ! test -x /usr/sbin/krb5kdc || ! test -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(KRB5_DEBS); \
	  else echo "note: not root: skipping apt-get install $(KRB5_DEBS); the Kerberos tests will skip"; fi; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	@if command -v krb5-config >/dev/null 2>&1; then $(PY) -m pip install -q -r requirements-kerberos.txt; \
	  else echo "note: no krb5-config (libkrb5-dev): gssapi/krb5 not installed; auth: kerberos unavailable"; fi
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Azurite (Table storage emulator) for the registry tests.
$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

# checkov pins its own old parser and many packages: keep it out of the main venv.
$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q checkov==3.3.30
	touch $(CHECKOV_VENV)/.installed

checkov: $(CHECKOV_VENV)/.installed

# The Functions worker's environment for tests/worker: only requirements.txt, plus the worker library.
$(WORKER_VENV)/.installed: requirements.txt tests/worker/requirements.txt $(STAMP)
	$(PY) tests/worker/worker_env.py

worker: $(WORKER_VENV)/.installed

demo: $(STAMP)
	$(VENV)/bin/pushproxy demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The dependency rules of ARCHITECTURE.md (pyproject.toml [tool.importlinter]).
imports: $(STAMP)
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collects no tests; that is not a failure.
test: $(STAMP) $(NODE_STAMP) $(CHECKOV_VENV)/.installed $(WORKER_VENV)/.installed lint typecheck imports
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" CHECKOV="$(CURDIR)/$(CHECKOV_VENV)/bin/checkov" \
	  $(PY) -m pytest -n 4 --dist loadfile tests; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(WORKER_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
