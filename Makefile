# The two commands a fresh machine needs (see README):
#   make demo   set up, then run the main job on embedded defaults
#   make test   set up, then run the whole test suite
# Set-up installs only hash-pinned files (requirements/*.txt, made from uv.lock):
#   REQUIREMENTS=requirements/runtime.txt make setup   the runtime alone (no extras)
#   make lock   after changing dependencies in pyproject.toml: re-resolve and re-export
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS ?= requirements/test.txt
UV := $(VENV)/bin/uv

.PHONY: demo test setup setup-test lint bench lock

$(STAMP): pyproject.toml requirements/tools.txt $(REQUIREMENTS)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/tools.txt
	$(PY) -m pip install --quiet --require-hashes -r $(REQUIREMENTS)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# Re-resolve uv.lock from pyproject.toml and export the hash-pinned install files.
# Add `--upgrade` via LOCK_ARGS=--upgrade to move every pin to the newest release.
lock:
	@test -x $(UV) || (python3 -m venv $(VENV) && \
	  $(PY) -m pip install --quiet --require-hashes -r requirements/tools.txt)
	$(UV) lock $(LOCK_ARGS)
	$(UV) export --frozen --quiet --format requirements-txt --no-emit-project --no-dev \
	  -o requirements/runtime.txt
	$(UV) export --frozen --quiet --format requirements-txt --no-emit-project --no-dev \
	  --all-extras -o requirements/test.txt
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11 \
	  requirements/tools.in -o requirements/tools.txt

setup-test: setup
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v wrk >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver wrk >/dev/null)

demo: setup
	$(VENV)/bin/warden check-name --file data/sample_names.txt

test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(PY) bench/run_all.py $(BENCH_ARGS)
