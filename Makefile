# Two commands on a fresh machine: `make train` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup data train test test-fast test-min bench clean

# The virtualenv with the package (editable) and the test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "vaelab needs Python 3.10+"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

setup: $(STAMP)

# Fashion-MNIST on disk: found, else downloaded, else Debian's dataset-fashion-mnist package.
data: $(STAMP)
	@$(PY) -m vaelab.data.prepare data=fashion_mnist \
	|| { command -v apt-get >/dev/null \
	     && echo "download not possible: installing Debian's dataset-fashion-mnist" \
	     && $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist \
	     && $(PY) -m vaelab.data.prepare data=fashion_mnist; }

train: data
	$(PY) train.py $(ARGS)

# Two test processes on two cores (pytest-xdist), each test file on one of them; one thread each.
test: data
	$(PY) -m pytest -n 2 --dist loadfile $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" $(ARGS)

# The dependency floors proven: a second virtualenv with every dependency at the lowest version
# pyproject.toml allows (constraints/minimum.txt), then test-fast's tests in it. Wheels only, so
# that a floor without a wheel for this Python fails at once instead of building an old sdist
# (antlr4-python3-runtime, which Hydra pins to 4.9.*, is published as an sdist only).
MIN_VENV := .venv-min
MIN_PY := $(MIN_VENV)/bin/python
MIN_STAMP := $(MIN_VENV)/.installed

$(MIN_STAMP): pyproject.toml constraints/minimum.txt
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_PY) -m pip install --upgrade pip
	$(MIN_PY) -m pip install --only-binary :all: --no-binary antlr4-python3-runtime \
		-c constraints/minimum.txt -e '.[dev]'
	touch $@

test-min: $(MIN_STAMP)
	$(MIN_PY) -m pip list --format=freeze > $(MIN_VENV)/installed.txt
	$(MIN_PY) -m pytest -n 2 --dist loadfile -m "not slow" $(ARGS)

clean:
	rm -rf $(VENV) $(MIN_VENV) logs .pytest_cache

# Benchmarks (benchmarks/*.py): results as JSON in benchmarks/results/, a summary on stdout.
bench: data
	$(PY) -m benchmarks.training
	$(PY) -m benchmarks.training --trainer gpu
	$(PY) -m benchmarks.overhead --case small
	$(PY) -m benchmarks.compile
	$(PY) -m benchmarks.iw_nll
