#!/usr/bin/env bash
# What a local user needs to schedule and watch the flow: the Prefect server on 127.0.0.1 with
# its SQLite database in .prefect/, the process work pool, the deployments of prefect.yaml and a
# worker. One Ctrl-C (SIGINT) or one SIGTERM stops them all within seconds: the worker first
# (a run in progress ends as Prefect decides), then the server. PORT (default 4200) picks the
# server's port. DB=postgres puts the server on PostgreSQL: the one that
# PREFECT_API_DATABASE_CONNECTION_URL names, or else a local one in .prefect/postgres
# (ops/postgres.py), started first and stopped last. LRFINDER_ALERT_WEBHOOK_URL: where the alert
# automation posts (ops/automations.py).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${PORT:-4200}"
bin=".venv/bin"
export PREFECT_HOME="${PREFECT_HOME:-$PWD/.prefect}"
export PREFECT_API_URL="http://127.0.0.1:$port/api"
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
pool="lr-finder-process"
server=""
worker=""
postgres=""
case "${DB:-sqlite}" in
  sqlite | postgres) ;;
  *) echo "DB must be sqlite or postgres, not '$DB'" >&2; exit 2 ;;
esac
# Server and worker start with job control on (`set -m` around their launch only): each gets a
# process group of its own, so a Ctrl-C reaches this script alone and the shutdown keeps its
# order, and neither starts with SIGINT ignored (as a script's background jobs otherwise do,
# which kept the worker from stopping). Shutdown: the worker and its flow runs (SIGTERM), the
# runs it left Running marked Crashed, then the server; whatever is still alive after a few
# seconds is killed. Further signals during the shutdown are ignored, so it always completes.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}
any_alive() {
  local pid
  for pid; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
wait_or_kill() {  # wait_or_kill SECONDS PID...: wait until all are gone, then kill the rest
  local seconds=$1
  shift
  for _ in $(seq $((seconds * 10))); do
    any_alive "$@" || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}
shutdown() {
  local status=$? runs=""
  trap '' INT TERM
  trap - EXIT
  set +e
  disown -a  # no job-status lines: processes are waited for below
  echo "Stopping the worker and its runs, then the server..."
  if [ -n "$worker" ]; then
    runs=$(descendants "$worker")
    kill -TERM $runs 2>/dev/null
    kill -INT "$worker" 2>/dev/null
    wait_or_kill 4 "$worker" $runs
  fi
  if [ -n "$server" ] && any_alive "$server"; then
    [ -z "$runs" ] || "$bin/python" ops/crash_running.py "$PREFECT_API_URL" $runs
    local helpers
    helpers=$(descendants "$server")
    kill -TERM "$server" 2>/dev/null
    wait_or_kill 3 "$server" $helpers
  fi
  if [ -n "$postgres" ]; then
    echo "Stopping PostgreSQL..."
    "$bin/python" ops/postgres.py stop "$postgres"
  fi
  exit "$status"
}
trap shutdown INT TERM EXIT

if [ "${DB:-}" = postgres ] && [ -z "${PREFECT_API_DATABASE_CONNECTION_URL:-}" ]; then
  postgres="$PREFECT_HOME/postgres"
  PREFECT_API_DATABASE_CONNECTION_URL=$("$bin/python" ops/postgres.py start "$postgres")
  export PREFECT_API_DATABASE_CONNECTION_URL
  echo "PostgreSQL: data in $postgres/data, log in $postgres/server.log"
fi

set -m
"$bin/prefect" server start --host 127.0.0.1 --port "$port" &
server=$!
set +m
for _ in $(seq 240); do
  if "$bin/python" -c "import httpx, sys; sys.exit(httpx.get('$PREFECT_API_URL/health').status_code != 200)" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { echo "prefect server exited" >&2; exit 1; }
  sleep 0.5
done

"$bin/prefect" work-pool inspect "$pool" >/dev/null 2>&1 || "$bin/prefect" work-pool create "$pool" --type process
"$bin/prefect" --no-prompt deploy --all
"$bin/python" ops/automations.py
echo "Prefect UI: http://127.0.0.1:$port  (deployments: lr-finder/nightly, runs at 02:00 UTC)"
# A worker that dies (killed, out of memory) is started again. A run it had started goes on in
# its own process and reports its end; a run whose process died too stops sending heartbeats,
# and the zombie-run automation marks it Crashed. Three deaths within 30 s of a start stop it.
quick=0
while true; do
  set -m
  "$bin/prefect" worker start --pool "$pool" &
  worker=$!
  set +m
  started=$SECONDS
  status=0
  wait "$worker" || status=$?
  worker=""
  if [ $((SECONDS - started)) -lt 30 ]; then quick=$((quick + 1)); else quick=0; fi
  if [ "$quick" -ge 3 ]; then
    echo "The worker ended 3 times within 30 s of its start (last status $status): see its output above." >&2
    exit 1
  fi
  echo "The worker ended (status $status); starting another in 5 s" >&2
  sleep 5 &
  wait $!
done
