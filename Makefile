# Two entry points for a fresh machine: `make preview` and `make test`. Each sets up .venv itself.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STACK ?= staging
INSTALLED := $(VENV)/.installed

.PHONY: preview test lint format docs venv clean

$(INSTALLED): requirements.txt requirements-dev.txt policies/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(INSTALLED)

## Offline preview of $(STACK): resources, artifacts in build/$(STACK)/, and the policy verdict.
preview: $(INSTALLED)
	$(BIN)/python -m tools.preview --stack $(STACK) $(if $(VARIANT),--variant $(VARIANT),)

## Lint, type-check and run the whole test suite.
test: lint
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy components policies tools
	$(BIN)/shellcheck $$(git ls-files '*.sh' .ci/run)

## Regenerate the README's generated blocks (config reference, policies, control matrix).
docs: $(INSTALLED)
	$(BIN)/python -m tools.readme --write

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build $(VENV)
