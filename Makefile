# The two commands of the README: `make demo` and `make test`. Each creates what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra

.PHONY: venv dev-venv infra-venv browser test test-fast test-slow lint typecheck demo bench clean lambda-package deploy-plan

# Two stamps: `make demo` installs the runtime (requirements.txt) only; `make test` and the other developer
# targets add the dev tools (requirements-dev.txt) on top, whatever ran before. pip shows its progress.
venv: $(VENV)/.runtime
$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the runtime dependencies (requirements.txt) into $(VENV)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.txt
	touch $@

dev-venv: $(VENV)/.dev
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	@echo "installing the dev tools (requirements-dev.txt) into $(VENV)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	touch $@

infra-venv: $(INFRA_VENV)/.installed
$(INFRA_VENV)/.installed: requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

# The report's browser test needs Debian's chromium; install it when we can (root), else that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the report's browser test will skip"; }

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: dev-venv
	$(VENV)/bin/mypy shared functions aws_lambdas local cli discovery reporting bench function_app.py

test: dev-venv infra-venv browser lint typecheck
	$(PY) -m pytest -q -n 2 -m "not slow"

test-slow: dev-venv infra-venv browser
	$(PY) -m pytest -q -n 2 -m slow

test-fast: dev-venv
	$(PY) -m pytest -q -x -m "not slow and not infra"

demo: venv
	$(PY) -m cli demo

bench: venv
	$(PY) -m bench

# The Lambdas' deployment package (the template's CodeUri): aws_lambdas/ (guest scripts included), shared/ and
# the Lambdas' pinned requirements, which `sam build` installs. infra/deploy.sh builds it the same way.
lambda-package:
	python3 infra/tools/lambda_package.py build

# Everything a deployment does except calling the clouds, for one environment: `make deploy-plan ENV=dev`.
ENV ?= dev
deploy-plan: venv infra-venv
	infra/deploy.sh $(ENV) --dry-run

clean:
	rm -rf $(VENV) $(INFRA_VENV) .state reports .pytest_cache .mypy_cache .ruff_cache
