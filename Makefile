# The whole set-up on a fresh machine is one of these two commands.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test install install-test bench clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# The demo needs no torch. The test extras do (the trainer): torch first, pinned,
# because an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test,train,stream,agents,docker,swebench]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/ledger run configs/demo.yaml

# The dashboard test drives Debian's headless chromium; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: install-test chromium
	$(PY) -m pytest -q tests

bench: install-test
	$(VENV)/bin/ledger bench all --json bench.json

clean:
	rm -rf $(VENV) .ledger .pytest_cache
