# medclip developer and user entry points. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN ?= runs/demo
SHARDS ?= data/shards/demo
REPORT ?= reports/demo
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install shards train eval demo merge serve test test-slow lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[dev,dicom,llm,bench,pairs,serve,ray]"
	touch $(STAMP)

shards: $(STAMP)
	$(PY) -m data_pipelines build --config configs/data/demo.yaml --out $(SHARDS)

train: $(STAMP)
	$(VENV)/bin/torchrun --standalone --nproc_per_node=1 train.py --config configs/train/demo.yaml \
		--resume auto run_dir=$(RUN) data.train=$(SHARDS)/train

eval: $(STAMP)
	$(PY) -m zeroshot --suite demo --model $(RUN)/checkpoints/latest.pt --out $(REPORT)

demo: $(STAMP)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory shards && \
	$(MAKE) --no-print-directory train && \
	$(MAKE) --no-print-directory eval && \
	echo "demo finished in $$(( $$(date +%s) - start ))s; report: $(REPORT)/report.md"

merge: $(STAMP)
	$(PY) -m zeroshot.merging.make_expert --base $(RUN)/checkpoints/latest.pt --out runs/merge/expert_xray.pt \
		--config configs/merge/expert_demo.yaml
	$(VENV)/bin/medclip-merge --base $(RUN)/checkpoints/latest.pt --expert runs/merge/expert_xray.pt --suite demo \
		--out reports/merge --config configs/merge/demo.yaml

serve: $(STAMP)
	$(VENV)/bin/medclip-serve --model demo=$(RUN)/checkpoints/latest.pt --host 127.0.0.1 --port $(or $(PORT),8000)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) -P $$b || exit 1; done

clean:
	rm -rf data/shards runs reports .pytest_cache
