# The two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
# OpenMP (xgboost, shap, scikit-learn) waits passively: busy-waiting threads of one library
# slowed the next one's fits 20x on 2 cores. Read once, when libgomp loads.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test install bench ui clean

demo: $(STAMP)
	$(BIN)/tunehouse demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python -m bench

ui: $(STAMP)
	$(BIN)/tunehouse ui

clean:
	rm -rf data reports dbt_project/target dbt_project/logs .dagster_home
