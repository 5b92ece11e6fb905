# Two commands set everything up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WORKERS ?= 1
# One BLAS/Numba thread per worker: on a 2-core box more threads only oversubscribe it.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export NUMBA_NUM_THREADS ?= 1

.PHONY: install install-dev run test bench load lock clean

# `make run` needs only the service's locked dependencies (requirements-serve.lock, ~350 MB); `make test` adds the
# training and test tools (requirements.lock: Keras, JAX, Schemathesis, ...) to the same .venv.
$(VENV)/.serve: requirements-serve.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-serve.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.serve requirements.lock
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

install: $(VENV)/.serve

install-dev: $(VENV)/.dev

run: install  ## serve the committed models on 0.0.0.0:$(PORT)
	PORT=$(PORT) WORKERS=$(WORKERS) $(PY) -m app

test: install-dev  ## the whole test suite (bounded: no full training)
	$(PY) -m pytest -q

bench: install-dev  ## speed and quality figures, printed as one table (installs wrk, the HTTP load generator, if root)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1); } || \
		echo "wrk not available: the HTTP benchmark falls back to a Python load generator"
	$(PY) -m bench.run_all

load: install-dev  ## load + soak test against the real server (32 clients, 180 s)
	$(PY) scripts/load_test.py --clients 32 --duration 180

lock:  ## re-resolve requirements*.lock from pyproject.toml (needs a package index)
	rm -rf /tmp/dino-lock && $(PYTHON) -m venv /tmp/dino-lock
	/tmp/dino-lock/bin/pip install --quiet . && /tmp/dino-lock/bin/pip freeze --exclude dinosaur-island > requirements-serve.lock
	/tmp/dino-lock/bin/pip install --quiet '.[train,dev]' && /tmp/dino-lock/bin/pip freeze --exclude dinosaur-island > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache

.PHONY: container-test
container-test:  ## lint, build and run the Docker image (compose up, calls, non-root, SIGTERM), train profile; needs root
	bash scripts/container-test.sh
