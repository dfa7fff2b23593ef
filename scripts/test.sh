#!/usr/bin/env bash
# Installs what the tests need (OpenSSH server, Chromium, Slurm + munge, podman + runc +
# debootstrap + busybox for the Docker engine tests, Python packages),
# makes sure PostgreSQL and Redis run, lints, and runs the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e"`.
source "$(dirname "$0")/common.sh"
apt_install openssh-server chromium podman runc debootstrap busybox-static slurm-wlm munge
make_venv requirements-test.txt

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi

# The tests run as root: their local runs execute as the unprivileged run user.
DJANGO_SETTINGS_MODULE=tests.settings .venv/bin/python manage.py setup_local_runner

.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
