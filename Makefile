# Two commands on a fresh machine: `make run` and `make test`.
VENV   := .venv
PYTHON ?= $(shell bin/find-python)
STAMP  := $(VENV)/.installed-$(shell cksum requirements.lock | cut -d' ' -f1)
# The official zai-sdk for its tests, in a venv of its own: it needs a PyJWT that zhipuai refuses.
ZAI       := .venv-zai
ZAI_STAMP := $(ZAI)/.installed-$(shell cksum requirements-zai.lock | cut -d' ' -f1)

# Test processes at once: each has its own Redis, simulator, database and ports (tests/testenv.py).
# The tests wait on servers more than they compute, so more than the machine's cores pays.
TEST_WORKERS ?= 3

.PHONY: install run test test-postgres lint lock bench clean

install: $(STAMP)

$(STAMP): requirements.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

$(ZAI_STAMP): requirements-zai.lock
	@test -x $(ZAI)/bin/python || $(PYTHON) -m venv $(ZAI)
	$(ZAI)/bin/pip install --quiet --disable-pip-version-check -r requirements-zai.lock
	@rm -f $(ZAI)/.installed-* && touch $@

run: install
	bin/run

# Debian's Chromium for the browser tests, installed when missing (as root; otherwise the command to run).
test: install $(ZAI_STAMP)
	bin/debian-packages chromium
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS)

# The database-touching tests again, on a throwaway PostgreSQL (Debian's postgresql package).
test-postgres: install
	bin/debian-packages postgresql
	@pgdata=$$(mktemp -d /tmp/pg-test.XXXXXX); trap 'bin/pg-throwaway stop "$$pgdata"' EXIT; \
	url=$$(bin/pg-throwaway start "$$pgdata" $${PGPORT:-}) && \
	DATABASE_URL=$$url $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) -m database

# ruff (lint and format) and mypy with django-stubs, as .ci/run and the pre-commit hook run them.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	ENV_FILE= SECRET_KEY=lint $(VENV)/bin/mypy

lock:
	$(VENV)/bin/pip-compile --quiet --extra dev --strip-extras -o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile --quiet --strip-extras -o requirements-zai.lock requirements-zai.in

clean:
	rm -rf $(VENV) $(ZAI) .run .staticfiles .pytest_cache .test-db.sqlite3*

bench: install
	$(VENV)/bin/python bench/stream_overhead.py
	$(VENV)/bin/python bench/upload.py
	$(VENV)/bin/python bench/gateway.py
