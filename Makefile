# cangtou — set-up, demo, tests. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bench-bot corpus train train-v2 train-gpu train-plan clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls gigabytes of CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,qq]'
	touch $@

# The console bot (SQLite in data/cangtou.db, the shipped model, no tokens): a poem, a rating,
# another form, then what was stored.
demo: $(STAMP)
	@$(BIN)/acrostic chat -c "/acrostic 算法进阶" -c "/rate 5" -c "/acrostic 春风得意 五言 繁"
	@echo "== stored (acrostic db requests --limit 2)"
	@$(BIN)/acrostic db requests --limit 2
	@echo "== a poem card (acrostic card)" && $(BIN)/acrostic card 算法进阶 --out data/card.png

# A throwaway PostgreSQL (when installed, or installable as root) so its tests run too.
# The QQ plugin's tests run with nonebug's pytest plugin, in a run of their own (tests/qq/conftest.py).
QQ_TESTS := -p nonebug -o asyncio_default_fixture_loop_scope=session \
  -o asyncio_default_test_loop_scope=session tests/qq

test: $(STAMP)
	tests/with_postgres.sh $(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q $(QQ_TESTS)

# The quick loop: no test marked slow, no PostgreSQL; about a minute (70 s on 2 idle cores).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"
	$(BIN)/python -m pytest -q -m "not slow" $(QQ_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_engine

bench-bot: $(STAMP)
	$(BIN)/python -m tests.bench.bench_bot

corpus: $(STAMP)
	$(BIN)/acrostic corpus build --out data/corpus

# The commands that produced the shipped model (engine/shipped, cangtou-v2) on this 2-core CPU
# machine: v1 (no themes), three warm-started runs with the poem titles as themes, then the
# clichés of the last one. The third run was stopped by hand after its 88-minute validation (the
# best checkpoint is what is kept); --finish-only then measures the test split and builds the
# line index.
train: corpus
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v1 --embed-dim 256 \
	  --hidden-dim 512 --cutoffs 2000,5000 --max-minutes 140 --eval-minutes 7 --seed 0 --no-themes
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v1 --finish-only
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v2 --init-from runs/cangtou-v1 \
	  --lr 1e-3 --max-minutes 150 --eval-minutes 10 --seed 1 --threads 1
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v2b --init-from runs/cangtou-v2 \
	  --lr 1e-3 --max-minutes 125 --eval-minutes 10 --seed 2 --threads 1
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v2c --init-from runs/cangtou-v2b \
	  --lr 6e-4 --max-minutes 125 --eval-minutes 10 --seed 3 --threads 2
	$(BIN)/acrostic train --corpus data/corpus --out runs/cangtou-v2c --finish-only
	$(BIN)/acrostic cliches --model runs/cangtou-v2c --corpus data/corpus

# Further training from the shipped model with themes, then its clichés. RESUME=--resume
# continues a stopped run in this tree; INIT picks another starting model directory.
V2 := runs/cangtou-v2
RESUME ?=
INIT ?= engine/shipped
train-v2: corpus
	$(BIN)/acrostic train --corpus data/corpus --out $(V2) --init-from $(INIT) \
	  --lr 6e-4 --max-minutes 125 --eval-minutes 10 --seed 1 --threads 2 $(RESUME)
	$(BIN)/acrostic cliches --model $(V2) --corpus data/corpus

# The same recipe for a lent GPU (bf16 autocast, 8× the batch); MINUTES fits the time lent.
MINUTES ?= 10
train-gpu: corpus
	$(BIN)/acrostic train --corpus data/corpus --out $(V2) --init-from $(INIT) \
	  --device cuda --tokens-per-batch 65536 --lr 2e-3 --max-minutes $(MINUTES) \
	  --eval-minutes 2 --seed 1
	$(BIN)/acrostic cliches --model $(V2) --corpus data/corpus

# The generator that follows a plan (docs/poems.md, "The plan"): the shipped model warm-started
# with each line's keyword fed before it, then its clichés and plan data. RESUME=--resume
# continues a stopped run; on a lent GPU: make train-plan DEVICE=cuda PLAN_MINUTES=12.
PLAN := runs/cangtou-v3
PLAN_MINUTES ?= 90
DEVICE ?= cpu
train-plan: corpus
	$(BIN)/acrostic train --corpus data/corpus --out $(PLAN) --init-from $(INIT) --keywords \
	  --device $(DEVICE) --lr 1e-3 --max-minutes $(PLAN_MINUTES) --eval-minutes 10 --seed 4 $(RESUME)
	$(BIN)/acrostic cliches --model $(PLAN) --corpus data/corpus
	$(BIN)/acrostic plan build --model $(PLAN) --corpus data/corpus

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
