# chargeportal: `make demo` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The roaming end-to-end tests' eMSP (extrawest-ocpi), in a venv of its own: its pins are older than the project's.
EMSP_VENV := .venv-emsp
EMSP_REQUIREMENTS := tests/e2e/emsp_peer/requirements.txt
HOST ?= 127.0.0.1
PORT ?= 8000
# Server processes for `make serve`; more than one needs REDIS_URL (the channel layer joins them).
WEB_WORKERS ?= 1
# Worker processes for `make worker` (statements, emails).
WORKER_CONCURRENCY ?= 2
# A charger's largest OCPP frame in bytes, for uvicorn and the server alike (larger: closed with 1009), and
# the seconds a stop (SIGTERM) lets connections close: chargers are told to reconnect, the port is free.
export OCPP_MAX_FRAME_BYTES ?= 1048576
export UVICORN_WS_MAX_SIZE := $(OCPP_MAX_FRAME_BYTES)
export UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN ?= 5
# The server on the C allocator: memory freed when chargers disconnect goes back to the system (the server
# trims it); Python's own allocator keeps what it once held. Measured: no slower per connection.
SERVER_ENV := PYTHONMALLOC=malloc
# TLS for chargers (README "TLS for chargers"): with OCPP_TLS_CERT_FILE and OCPP_TLS_KEY_FILE set the server speaks
# TLS itself (https://, wss://); with OCPP_CA_CERT_FILE too it asks for a client certificate from that CA, optional
# (--ssl-cert-reqs 1: profile-2 chargers have none; profile 3 is refused without one, by the server). The websocket
# protocol class passes the verified client certificate to the application (chargeportal/uvicorn_tls.py).
TLS_ARGS = --ws chargeportal.uvicorn_tls:WebSocketProtocol \
	$(if $(OCPP_TLS_CERT_FILE),--ssl-certfile '$(OCPP_TLS_CERT_FILE)' --ssl-keyfile '$(OCPP_TLS_KEY_FILE)') \
	$(if $(and $(OCPP_TLS_CERT_FILE),$(OCPP_CA_CERT_FILE)),--ssl-ca-certs '$(OCPP_CA_CERT_FILE)' --ssl-cert-reqs 1)
DEMO_ENV := DEBUG=1

.PHONY: demo serve worker test lint messages clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(EMSP_VENV)/.installed: $(EMSP_REQUIREMENTS)
	test -x $(EMSP_VENV)/bin/python || $(PYTHON) -m venv $(EMSP_VENV)
	$(EMSP_VENV)/bin/python -m pip install -q -r $(EMSP_REQUIREMENTS)
	touch $@

## demo: install, migrate SQLite, load demo data once, serve on http://$(HOST):$(PORT) with simulated chargers
demo: $(VENV)/.installed
	$(DEMO_ENV) $(PY) manage.py migrate --noinput -v0
	$(DEMO_ENV) $(PY) manage.py createcachetable
	$(DEMO_ENV) $(PY) manage.py demo_data --seed 42 --if-empty
	$(DEMO_ENV) HOST=$(HOST) PORT=$(PORT) bin/demo-serve

## serve: production-style start with the configured environment (DATABASE_URL, SECRET_KEY, ...)
serve: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput -v0
	$(SERVER_ENV) $(VENV)/bin/uvicorn chargeportal.asgi:application --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS) \
		--forwarded-allow-ips '$(TRUSTED_PROXIES)' $(TLS_ARGS)

## worker: Celery worker with beat embedded (small installs), WORKER_CONCURRENCY processes; needs REDIS_URL to share work
worker: $(VENV)/.installed
	@mkdir -p var
	$(VENV)/bin/celery -A chargeportal worker -B -l info --concurrency $(WORKER_CONCURRENCY) \
		--schedule var/celerybeat-schedule

# `make test` must not skip the real-worker tests: without REDIS_URL it uses a local Redis (DB 1)
# when one is installed or answering (bin/services-up starts it when it is down).
ifeq ($(origin REDIS_URL),undefined)
ifneq ($(shell command -v redis-server || redis-cli -h 127.0.0.1 ping 2>/dev/null),)
test: export REDIS_URL := redis://127.0.0.1:6379/1
endif
endif

## test: lint, type check, migrations up to date, then the whole suite (PostgreSQL/Redis when their URLs are set)
test: $(VENV)/.installed-test $(EMSP_VENV)/.installed
	bin/system-deps
	bin/services-up
	@test -n "$$REDIS_URL" || echo "NOTE: no REDIS_URL and no local Redis: the real Celery worker tests are skipped."
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	DEBUG=1 DATABASE_URL=sqlite://:memory: $(PY) manage.py makemigrations --check --dry-run -v1
	$(VENV)/bin/pytest

## messages: refresh the Swedish catalogue after changing user-visible text
messages: $(VENV)/.installed
	$(DEMO_ENV) $(PY) manage.py makemessages -l sv --ignore=.venv --ignore=$(EMSP_VENV) --ignore=var
	$(DEMO_ENV) $(PY) manage.py compilemessages --ignore=.venv --ignore=$(EMSP_VENV)

clean:
	rm -rf $(VENV) $(EMSP_VENV) var db.sqlite3 db.sqlite3-wal db.sqlite3-shm
