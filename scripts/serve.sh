#!/usr/bin/env bash
# Sets everything up and serves the portal on http://127.0.0.1:8000 on its
# embedded defaults: SQLite (WAL), an in-process Celery worker and channel layer.
source "$(dirname "$0")/common.sh"
make_venv requirements.txt
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py bootstrap
# As root: the unprivileged user local runs execute as (does nothing otherwise).
.venv/bin/python manage.py setup_local_runner
exec .venv/bin/python manage.py serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
