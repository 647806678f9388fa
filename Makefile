# Dog Breed ID: every user-facing workflow is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DOGBREED := $(BIN)/dogbreed
BACKEND ?=
# pytest-xdist workers: most slow tests wait on Terraform and moto, so one more than the cores;
# each file is one unit, queued longest first (tests/scheduling.py)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
DATA_SOURCE ?=
BACKEND_FLAG := $(if $(BACKEND),--backend $(BACKEND),)
SOURCE_FLAG := $(if $(DATA_SOURCE),--source $(DATA_SOURCE),)

# Offline machines carry the AWS provider in a local mirror; point Terraform at it the
# standard way (a CLI config file). Online users get the public registry.
ifneq ($(wildcard /opt/tf-plugins),)
export TF_CLI_CONFIG_FILE := $(CURDIR)/terraform/offline-mirror.tfrc
endif

.PHONY: help setup test lint validate docs docs-check fmt data prepare upload train tune jobs deploy destroy serve evaluate demo demo-quick bench clean checkov mxnet

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Installer: uv resolves the same pins as pip (same versions, checked with `pip freeze`) about
# three times faster, so `make test` on a fresh clone waits less (docs/testing.md). uv reads no
# pip.conf: pip's find-links are passed on, and where uv cannot be installed or cannot install
# (packages only behind a pip.conf index), pip does the install; INSTALLER=pip skips uv.
INSTALLER ?= uv
export UV_FIND_LINKS ?= $(PIP_FIND_LINKS)
# $(call venv_install,VENV,ARGS): pip-style install ARGS into the virtual environment VENV
define venv_install
test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
if [ "$(INSTALLER)" = uv ] && $(1)/bin/pip install -q uv && \
  $(1)/bin/uv pip install -q --python $(1)/bin/python $(2); then :; \
else \
  echo "installing with pip into $(1)"; \
  $(1)/bin/pip install -q --upgrade pip && $(1)/bin/pip install -q $(2); \
fi
endef

PROJECT_INSTALL := -c constraints.txt -e '.[local,aws,dev,audit]'
$(VENV)/.installed: pyproject.toml constraints.txt
	$(call venv_install,$(VENV),$(PROJECT_INSTALL))
	touch $@

setup: $(VENV)/.installed ## Create .venv and install the project with all extras

test: ## Run the whole test suite (builds the checkov and MXNet venvs too)
	@# the three virtual environments build side by side: each install runs mostly on one core
	$(MAKE) --no-print-directory -j3 setup .venv-checkov/.installed .venv-mxnet/.installed
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  echo "note: Chromium is not installed, so the browser tests skip (apt-get install -y chromium chromium-driver)"
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	  --durations=20 --junitxml=build/junit.xml

# Root configuration and each example: init without a backend (offline mirror), then validate.
# .terraform goes to build/terraform-validate (the lock files are git-ignored).
TF_VALIDATE_DIRS := terraform $(wildcard terraform/examples/*)

lint: setup validate ## ruff (incl. C901 complexity) + ruff format + terraform fmt/validate + docs-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	terraform fmt -check -recursive terraform
	$(BIN)/python -m tools.docs --check

validate: ## terraform validate on the root configuration and each example
	@set -e; for dir in $(TF_VALIDATE_DIRS); do \
	  data="$(CURDIR)/build/terraform-validate/$$(echo $$dir | tr / _)"; mkdir -p "$$data"; \
	  TF_DATA_DIR="$$data" terraform -chdir=$$dir init -backend=false -input=false -no-color \
	    >"$$data/init.log" || { cat "$$data/init.log"; exit 1; }; \
	  TF_DATA_DIR="$$data" terraform -chdir=$$dir validate -no-color; \
	done

docs: setup ## Regenerate docs/settings.md, the module READMEs' tables, dogbreed.toml's commented defaults
	$(BIN)/python -m tools.docs

docs-check: setup ## Fail when `make docs` would change a file
	$(BIN)/python -m tools.docs --check

.venv-checkov/.installed:
	$(call venv_install,.venv-checkov,checkov)
	touch $@

checkov: .venv-checkov/.installed ## checkov on terraform/ (own venv: it pins an old boto3); skips in terraform/README.md
	.venv-checkov/bin/checkov --config-file terraform/.checkov.yaml

# MXNet 1.9.1 (the built-in algorithm's framework) needs numpy < 1.24, so `dogbreed import-model`
# runs its converter (ops/train/sagemaker/mxnet_convert.py) with this venv's interpreter; nothing of MXNet
# enters .venv.
.venv-mxnet/.installed:
	$(call venv_install,.venv-mxnet,'mxnet==1.9.1' 'numpy==1.23.5' 'onnx==1.14.1')
	touch $@

mxnet: .venv-mxnet/.installed ## The isolated MXNet venv that `dogbreed import-model` converts with

fmt: setup ## Format Python and Terraform
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	terraform fmt -recursive terraform

data: setup ## Fetch Stanford Dogs (DATA_SOURCE=URL|folder|tarballs)
	$(DOGBREED) data fetch $(SOURCE_FLAG)

prepare: data ## Validate, split and write the LST manifests
	$(DOGBREED) data prepare

upload: setup ## Upload the prepared channels to S3
	$(DOGBREED) data upload

train: setup ## Train (BACKEND=local|sagemaker; default from dogbreed.toml)
	$(DOGBREED) $(BACKEND_FLAG) train

tune: setup ## SageMaker hyperparameter tuning job
	$(DOGBREED) --backend sagemaker tune

jobs: setup ## List recent SageMaker training/tuning jobs
	$(DOGBREED) --backend sagemaker jobs

deploy: setup ## terraform apply of the serving stack with the last trained model
	$(DOGBREED) deploy

destroy: setup ## terraform destroy of the serving stack
	$(DOGBREED) destroy

serve: setup ## Local model server + local POST /classify
	$(DOGBREED) serve --api

evaluate: setup ## Evaluation report through the API
	$(DOGBREED) evaluate

demo: setup ## The whole pipeline locally: fetch, prepare, train, serve, evaluate
	$(DOGBREED) demo $(SOURCE_FLAG)

demo-quick: setup ## The same on 10 breeds, in a few minutes
	$(DOGBREED) demo --quick $(SOURCE_FLAG)

bench: ## List the benchmarks: each bench/*.py prints its figures; docs/*.md hold figures + commands
	@for f in bench/*.py; do printf "%-26s %s\n" "$$f" "$$(sed -n '1s/^"""//p' $$f)"; done
	@echo "figures and the exact commands: $$(grep -l 'bench/' docs/*.md | tr '\n' ' ')"

clean: ## Remove generated data, artifacts and reports (keeps .venv)
	rm -rf data artifacts reports .dogbreed
