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
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi

# The whole suite. The Slurm tests (tests/clusters: real clusters, mostly waiting
# on Slurm) run beside the rest, with a database, a Redis database and an SSH test
# user of their own; the two suites leave each other's containers alone.
.venv/bin/python -c "from tests import podman; podman.ensure_config()"
mkdir -p test-artifacts
database=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal}
redis=${REDIS_URL:-redis://127.0.0.1:6379/14}
DATABASE_URL="${database}_slurm" REDIS_URL="${redis%/*}/13" PORTAL_TEST_SSH_USER=portalslurm \
  .venv/bin/python -m pytest tests/clusters > test-artifacts/slurm-tests.log 2>&1 &
slurm_suite=$!
status=0
.venv/bin/python -m pytest --ignore=tests/clusters || status=$?
slurm_status=0
wait "$slurm_suite" || slurm_status=$?
echo "---- tests/clusters (run beside the rest; also in test-artifacts/slurm-tests.log) ----"
cat test-artifacts/slurm-tests.log
if [ "$status" -ne 0 ] || [ "$slurm_status" -ne 0 ]; then
  echo "FAILED: the suite exited $status, tests/clusters exited $slurm_status" >&2
  exit 1
fi
