# Two commands for a fresh clone: `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv at the repo root and install the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: repro dataset test bench clean-venv

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

repro: $(STAMP)  ## run the whole pipeline (dvc repro)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

dataset: $(STAMP)  ## build only the probe dataset (works offline)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro dataset

test: $(STAMP)  ## run the test suite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

bench: $(STAMP)  ## scorer vs the fill-mask pipeline, small and base-sized random models
	$(BIN)/python benchmarks/score_speed.py --size small base --probes 300 --repeat 2

clean-venv:
	rm -rf $(VENV)
