# Tàng Thư: `make demo` serves a sample collection; `make test` runs the whole suite.
# Both install what they need first: Python packages into .venv, Mirador from npm,
# and Debian packages where the step needs them.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
# Exact versions with hashes, for Python 3.11 on x86-64 Linux: the runtime lock (the
# Docker image) and the test lock (runtime plus the [test] extra). `make lock` renews them.
LOCK := requirements/lock.txt
TEST_LOCK := requirements/lock-test.txt
NPM_STAMP := viewer/node_modules/.package-lock.json
MO := repository/translations/vi/LC_MESSAGES/messages.mo
TESSDATA_VIE := /usr/share/tesseract-ocr/5/tessdata/vie.traineddata
TESSDATA_HAN := /usr/share/tesseract-ocr/5/tessdata/chi_tra_vert.traineddata
# BabelStone Han covers the CJK Extensions B-H where chữ Nôm lives; pages, PDFs and the
# viewer get a subset of it, served locally.
HAN_FONT := /usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf
HAN_CHUNKS := repository/static/fonts/han/han.css
# Cutting the font takes minutes; builds are kept by font checksum, as pip keeps wheels.
HAN_CACHE ?= $(HOME)/.cache/tangthu/han-font
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

HOST ?= 127.0.0.1
PORT ?= 8000
IMAGE_PORT ?= 8182

.PHONY: install demo test lint typecheck translations lock clean

install: $(PY_STAMP) $(NPM_STAMP) $(MO) $(TESSDATA_VIE) $(TESSDATA_HAN) $(HAN_CHUNKS)

# Only what the lock names, each file checked against its hash; then the project itself.
# pip check fails when pyproject.toml asks for something the lock lacks: run `make lock`.
$(PY_STAMP): pyproject.toml $(TEST_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

$(NPM_STAMP): viewer/package.json viewer/package-lock.json
	@command -v npm >/dev/null || { $(APT) update -q && $(APT) install -y -q nodejs npm; }
	cd viewer && npm ci --no-audit --no-fund --loglevel=error

$(MO): repository/translations/vi/LC_MESSAGES/messages.po $(PY_STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d repository/translations

/usr/bin/chromium:
	$(APT) update -q && $(APT) install -y -q chromium

# The deploy/ configs are checked with Debian's nginx (nginx -t, and a real cache run).
/usr/sbin/nginx:
	$(APT) update -q && $(APT) install -y -q nginx openssl

# The benchmarks' smoke runs: wrk drives the servers, and Debian's IIPImage behind lighttpd
# is the tile benchmark's peer (IIPImage 1.3 is built by hand for the published figures).
BENCH_TOOLS := /usr/bin/wrk /usr/sbin/lighttpd /usr/lib/iipimage-server/iipsrv.fcgi
$(BENCH_TOOLS) &:
	$(APT) update -q && $(APT) install -y -q wrk lighttpd iipimage-server

# Text recognition: Tesseract with its Vietnamese model, and the classical Chinese ones
# (horizontal and vertical) for Hán-Nôm.
$(TESSDATA_VIE):
	$(APT) update -q && $(APT) install -y -q tesseract-ocr tesseract-ocr-vie

$(TESSDATA_HAN):
	$(APT) update -q && $(APT) install -y -q tesseract-ocr tesseract-ocr-chi-tra \
		tesseract-ocr-chi-tra-vert

$(HAN_FONT):
	$(APT) update -q && $(APT) install -y -q fonts-babelstone-han

# The web font pages and viewers fall back to: unicode-range chunks of BabelStone Han.
$(HAN_CHUNKS): $(HAN_FONT) repository/han_font.py $(PY_STAMP)
	$(BIN)/python -m repository.han_font --cache $(HAN_CACHE)

# The job queue's Redis lane runs against Debian's Redis, started by the suite.
/usr/bin/redis-server:
	$(APT) update -q && $(APT) install -y -q redis-server

# The sample's manifests are written for the address `serve` answers on (HOST, PORT and
# IMAGE_PORT, or TANGTHU_PUBLIC_URL and TANGTHU_IMAGE_URL behind a proxy); `serve`
# rewrites them if they were written for another.
demo: export TANGTHU_PUBLIC_URL ?= http://$(HOST):$(PORT)
demo: export TANGTHU_IMAGE_URL ?= http://$(HOST):$(IMAGE_PORT)
demo: install
	$(BIN)/tangthu init-db
	$(BIN)/tangthu load-sample
	$(BIN)/tangthu demo-admin
	TANGTHU_SESSION_COOKIE_SECURE=false TANGTHU_REMEMBER_COOKIE_SECURE=false \
		$(BIN)/tangthu serve --host $(HOST) --port $(PORT) --image-port $(IMAGE_PORT)

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy image_server manifests repository

# The whole suite, then the database tests again on a throwaway PostgreSQL cluster, and
# the search tests against a real OpenSearch node assembled from Maven Central.
test: install /usr/bin/chromium /usr/sbin/nginx /usr/bin/redis-server $(BENCH_TOOLS) lint typecheck
	$(BIN)/pytest
	bash tests/postgres-lane.sh
	bash tests/opensearch-lane.sh

translations: $(PY_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project="Tàng Thư" --ignore-dirs=".* node_modules instance" \
		-o repository/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete \
		-i repository/translations/messages.pot -d repository/translations
	$(BIN)/pybabel compile -d repository/translations

# Renew the locks: every pin moves to the newest release that fits pyproject.toml
# (UPGRADE="--upgrade-package NAME" moves one; UPGRADE= only adds what is new). The
# runtime lock is resolved within the test lock, so the two never disagree.
UPGRADE ?= --upgrade
UV_COMPILE := $(BIN)/uv pip compile --quiet pyproject.toml --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock"

lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet uv; }
	$(UV_COMPILE) $(UPGRADE) --extra test -o $(TEST_LOCK)
	$(UV_COMPILE) --constraint $(TEST_LOCK) -o $(LOCK)

clean:
	rm -rf $(VENV) viewer/node_modules .pytest_cache .mypy_cache .ruff_cache tests/artifacts \
		repository/static/fonts/han
