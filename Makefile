# embedcli — `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1

.PHONY: help install demo test lint completions bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## Create ./.venv with embedcli and everything its tests need

# The CPU build of torch goes in first: anything that pulls in an unpinned torch would fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[reduce,onnx,store,media,ann,ray,sql,dev]"
	@# The default backend (auto) runs this export: built now, so no first call waits 15-45 s for it.
	$(BIN)/embedcli models --export all-MiniLM-L6-v2
	touch $@

demo: install  ## Embed a sample file with the shipped default model, then search it
	@mkdir -p demo-out
	$(BIN)/embedcli embed examples/sample.txt -o demo-out/sample.parquet
	$(BIN)/embedcli similar demo-out/sample.parquet "how can I get a refund" -k 3
	$(BIN)/embedcli embed -t "I love deep learning" --format jsonl | cut -c1-120

test: install  ## Run the whole test suite
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install  ## ruff and mypy
	$(BIN)/ruff check embedcli tests bench
	$(BIN)/ruff format --check embedcli tests bench
	$(BIN)/mypy embedcli

completions: install  ## Regenerate the shell completion scripts in completions/
	$(BIN)/python -m embedcli.cli.completions completions

bench: install  ## Speed benchmarks, as ratios against the libraries called directly
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:  ## Remove the virtual environment and build leftovers
	rm -rf $(VENV) demo-out build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
