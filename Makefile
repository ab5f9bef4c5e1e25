# Every target bootstraps what it needs: uv into .uv/, the locked environment into .venv/.
PYTHON ?= python3
PORT ?= 8000
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv/.synced
export UV_PYTHON_DOWNLOADS := never

.PHONY: test lint format dev bench

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

test: $(VENV)
	.venv/bin/pytest

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: $(VENV)
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Every service on http://127.0.0.1:$(PORT) (`make dev PORT=8100`), on embedded Postgres and Valkey
# unless configured.
dev: $(VENV)
	.venv/bin/sajtmaskin dev --port $(PORT)

# Benchmarks on this machine; each prints ratios against a baseline measured in the same run.
bench: $(VENV)
	.venv/bin/python -m bench
