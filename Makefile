# Quick start: `make run` serves the demo, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed
# Tests run with DEBUG off, as production does; these stand in for the secrets production sets.
TEST_ENV := DEBUG=0 SECRET_KEY=$${SECRET_KEY:-test-secret-key} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-*} \
	SECURE_SSL_REDIRECT=0 QODEX_ENCRYPTION_KEYS=$${QODEX_ENCRYPTION_KEYS:-Pyr4YQnBvDBSS18sLRULbDuWzYg5w7j0cEzzvcfHHGM=}

export DJANGO_SETTINGS_MODULE := qodex.settings

.PHONY: run test e2e lint format bench migrate clean constraints

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Re-resolve the dependencies within pyproject.toml's ranges and record the set as the one to test.
constraints: | $(PY)
	$(PY) -m pip install --quiet --upgrade -e '.[dev]'
	{ echo "# The tested set: what \`make\` installs (pip -c). Refresh after changing pyproject.toml: \`make constraints\`."; \
	  $(PY) -m pip freeze --exclude-editable; } > constraints.txt

run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo
	@# runserver that prints the demo login under its banner, once it listens
	DEBUG=$${DEBUG:-1} $(PY) manage.py rundemo 127.0.0.1:$(PORT)

test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

e2e: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	@# wrk (Debian) loads the server far less than Python clients do; best effort, the bench falls back.
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1; }; } || true
	@# every bench runs and prints its line; the target fails at the end if any missed its budget
	@failed=0; for script in bench/*.py; do [ -e "$$script" ] || continue; $(PY) "$$script" || failed=1; done; exit $$failed

migrate: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
