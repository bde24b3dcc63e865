# polars-mlkit developer commands. `make help` lists them.
# Every target creates or reuses the virtualenv and installs what it needs.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
FLOOR_VENV ?= .venv-floor
# The lowest supported polars (see python/polars_mlkit/_versions.py).
POLARS_FLOOR ?= 2.0.0
BIN := $(VENV)/bin
WHEEL_DIR := target/wheels

.PHONY: help demo test lint rust-test cross-test py-test floor-test bench build develop clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.deps: requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

build: $(VENV)/.deps ## Build the extension (release) and install it into the venv
	rm -f $(WHEEL_DIR)/polars_mlkit-*.whl
	$(BIN)/maturin build --release --out $(WHEEL_DIR) --interpreter $(BIN)/python
	$(BIN)/pip install --quiet --force-reinstall --no-deps $(WHEEL_DIR)/polars_mlkit-*.whl

develop: $(VENV)/.deps ## Editable install for an edit-test loop (Python edits apply at once; re-run after Rust edits)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release

demo: build ## Run the demo: the ml namespace on real data and the classic table
	$(BIN)/python demo/demo.py

lint: $(VENV)/.deps ## Formatters and linters: cargo fmt, clippy, ruff, mypy --strict
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings
	$(BIN)/ruff format --check python tests benchmarks demo
	$(BIN)/ruff check python tests benchmarks demo
	$(BIN)/mypy --strict python/polars_mlkit

rust-test: ## The pure-Rust kernel tests (release: the searches they check run at every CPU level)
	cargo test --lib --release

cross-test: ## Kernel tests for aarch64 under qemu-user, and clippy for that target (installs Debian's cross toolchain)
	bash .ci/cross-test

# The vector and search suites, run again with the kernels capped at the
# portable level, so the portable paths are tested on every CPU.
PORTABLE_SUITES := tests/test_vectors.py tests/test_search.py tests/test_search_filters.py tests/test_maxsim.py tests/test_quantized.py \
	tests/test_data_face.py tests/test_vector_aggregations.py

py-test: build ## pytest, with doctests, against the newest supported polars (vector and search suites also at the portable level)
	$(BIN)/python -m pytest tests --pyargs polars_mlkit
	POLARS_MLKIT_ISA=portable $(BIN)/python -m pytest -q $(PORTABLE_SUITES)

$(FLOOR_VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/pip install --quiet --upgrade pip
	grep -v -e '^polars==' -e '^maturin' -e '^ray' requirements-dev.txt > $(FLOOR_VENV)/requirements.txt
	$(FLOOR_VENV)/bin/pip install --quiet -r $(FLOOR_VENV)/requirements.txt polars==$(POLARS_FLOOR)
	touch $@

floor-test: build $(FLOOR_VENV)/.deps ## pytest against the lowest supported polars
	$(FLOOR_VENV)/bin/pip install --quiet --force-reinstall --no-deps $(WHEEL_DIR)/polars_mlkit-*.whl
	# The floor run skips the slow notebook and Ray suites (they test no polars-version-specific code).
	$(FLOOR_VENV)/bin/python -m pytest -q tests --pyargs polars_mlkit \
		--ignore=tests/test_notebooks.py --ignore=tests/test_ray.py

test: lint rust-test cross-test py-test floor-test ## Everything CI runs

bench: build ## Benchmarks against native Polars, numpy, scikit-learn, pure Python
	$(BIN)/python benchmarks/bench.py --output benchmarks/results.md
	$(BIN)/python benchmarks/parallelism.py --output benchmarks/results.md

clean: ## Remove build outputs and virtualenvs
	rm -rf target $(VENV) $(FLOOR_VENV) python/polars_mlkit/*.so
