# The two commands of the README: `make demo` and `make test`. Each creates what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra

.PHONY: venv infra-venv browser test test-fast test-slow lint typecheck demo bench clean lambda-package deploy-plan

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
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

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy shared functions aws_lambdas local cli discovery reporting bench function_app.py

test: venv infra-venv browser lint typecheck
	$(PY) -m pytest -q -n 2 -m "not slow"

test-slow: venv infra-venv browser
	$(PY) -m pytest -q -n 2 -m slow

test-fast: venv
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
