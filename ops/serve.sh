#!/usr/bin/env bash
# What a local user needs to schedule and watch the flow: the Prefect server on 127.0.0.1 with
# its SQLite database in .prefect/, the process work pool, the deployments of prefect.yaml and a
# worker. Ctrl-C stops them all. PORT (default 4200) picks the server's port.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${PORT:-4200}"
bin=".venv/bin"
export PREFECT_HOME="${PREFECT_HOME:-$PWD/.prefect}"
export PREFECT_API_URL="http://127.0.0.1:$port/api"
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
pool="lr-finder-process"

"$bin/prefect" server start --host 127.0.0.1 --port "$port" &
server=$!
worker=""
trap 'kill $worker $server 2>/dev/null; wait' EXIT INT TERM

for _ in $(seq 240); do
  if "$bin/python" -c "import httpx, sys; sys.exit(httpx.get('$PREFECT_API_URL/health').status_code != 200)" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { echo "prefect server exited" >&2; exit 1; }
  sleep 0.5
done

"$bin/prefect" work-pool inspect "$pool" >/dev/null 2>&1 || "$bin/prefect" work-pool create "$pool" --type process
"$bin/prefect" --no-prompt deploy --all
"$bin/prefect" worker start --pool "$pool" &
worker=$!
echo "Prefect UI: http://127.0.0.1:$port  (deployments: lr-finder/nightly, runs at 02:00 UTC)"
wait "$worker"
