# cangtou — set-up, demo, tests. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench corpus train clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls gigabytes of CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	@echo "== 七言, beam search (width 8)"
	@$(BIN)/acrostic poem 算法进阶 --seven --beam 8
	@echo "== 五言, beam search (width 8)"
	@$(BIN)/acrostic poem 算法进阶 --five --beam 8
	@echo "== 七言, sampled (temperature 0.8, top-p 0.9, seed 7)"
	@$(BIN)/acrostic poem 算法进阶 --sample --temperature 0.8 --top-p 0.9 --seed 7

# A throwaway PostgreSQL (when installed, or installable as root) so its tests run too.
test: $(STAMP)
	tests/with_postgres.sh $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_engine

corpus: $(STAMP)
	$(BIN)/acrostic corpus build --out data/corpus

# The command that produced the shipped model (engine/shipped), on this 2-core CPU machine.
train: corpus
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v1 --embed-dim 256 \
	  --hidden-dim 512 --cutoffs 2000,5000 --max-minutes 140 --eval-minutes 7 --seed 0

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
