#!/usr/bin/env bash
# Builds edgeless, starts a single-host cluster (edgeless_inabox with two
# nodes), runs the ping-pong example workflow and shows what its functions
# log. Ctrl-C (or DURATION seconds, default 15) stops everything.
#
#   ./scripts/quickstart.sh                       # ping_pong
#   EXAMPLE=chain DURATION=30 ./scripts/quickstart.sh
#   EXAMPLE=container ./scripts/quickstart.sh     # needs a running dockerd
#   PORT=7000 ./scripts/quickstart.sh             # ports from 7000 (controller 7001)
#
# Without PORT every component takes a free port the system chooses, so the
# script runs beside any other cluster. WORK=DIR keeps the configuration and
# log in DIR (default: a new temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
example=${EXAMPLE:-ping_pong}
duration=${DURATION:-15}
port=${PORT:-0}

echo "== building edgeless (the first build takes a few minutes)" >&2
cargo build --bins --quiet
bin="$root/target/debug"

echo "== building the example's functions to WebAssembly" >&2
# Modules go to target/, and a copy of the workflow points at them.
export EDGELESS_FUNCTIONS_TARGET_DIR="$root/target/functions"
modules="$root/target/functions/modules"
for code in $(grep -o '"code": *"\.\./\.\./functions/[^"]*"' "examples/$example/workflow.json" | sed 's/.*"\.\.\/\.\.\/functions\/\([^/]*\)\/.*/\1/' | sort -u); do
  "$bin/edgeless_cli" function build "functions/$code/function.json" --out "$modules/$code/$code.wasm" >/dev/null
done
# Container functions name an image `edgeless-<function>` built from functions/<function>.
containers=()
for image in $(grep -o '"code": *"edgeless-[^"]*"' "examples/$example/workflow.json" | sed 's/.*"edgeless-\([^"]*\)"/\1/' | sort -u); do
  echo "== building the container image edgeless-$image" >&2
  "$bin/edgeless_cli" function build-container "functions/$image" --tag "edgeless-$image" >/dev/null
  containers=(--containers)
done

work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "== starting edgeless_inabox with two nodes (configuration and log in $work)" >&2
"$bin/edgeless_inabox" -t -n 2 --initial-port "$port" --config-path "$work" "${containers[@]}" 2>/dev/null
RUST_LOG=info "$bin/edgeless_inabox" --config-path "$work" --listening-file "$work/listening.toml" 2>"$work/inabox.log" &
inabox=$!
workflow=""
cleanup() {
  if [ -n "$workflow" ]; then
    "$bin/edgeless_cli" -c "$work/cli.toml" workflow stop "$workflow" >/dev/null 2>&1 || true
  fi
  kill "$inabox" 2>/dev/null || true
  wait "$inabox" 2>/dev/null || true
}
trap cleanup EXIT

# The CLI talks to the controller at the address it got.
for _ in $(seq 1 300); do
  [ -s "$work/listening.toml" ] && break
  if ! kill -0 "$inabox" 2>/dev/null; then
    echo "edgeless_inabox exited:" >&2; cat "$work/inabox.log" >&2; exit 1
  fi
  sleep 0.1
done
controller=$(sed -n 's/^controller\.controller_url = "\(.*\)"$/\1/p' "$work/listening.toml")
if [ -z "$controller" ]; then
  echo "edgeless_inabox did not report its controller:" >&2; cat "$work/inabox.log" >&2; exit 1
fi
echo "controller_url = \"$controller\"" >"$work/cli.toml"
echo "== controller at $controller (edgeless_cli -c $work/cli.toml ...)" >&2
dashboard=$(sed -n 's/^controller\.dashboard_url = "\(.*\)"$/\1/p' "$work/listening.toml")
[ -n "$dashboard" ] && echo "== dashboard at $dashboard/" >&2
for _ in $(seq 1 100); do
  if "$bin/edgeless_cli" -c "$work/cli.toml" domain list -o json 2>/dev/null | grep -q '"num_nodes": 2'; then break; fi
  if ! kill -0 "$inabox" 2>/dev/null; then
    echo "edgeless_inabox exited:" >&2; cat "$work/inabox.log" >&2; exit 1
  fi
  sleep 0.2
done
"$bin/edgeless_cli" -c "$work/cli.toml" domain list

sed "s|\.\./\.\./functions/|$modules/|g" "examples/$example/workflow.json" >"$work/workflow.json"
workflow=$("$bin/edgeless_cli" -c "$work/cli.toml" workflow start "$work/workflow.json" --name "$example")
echo "== workflow $workflow started; function logs for ${duration}s:" >&2
"$bin/edgeless_cli" -c "$work/cli.toml" workflow inspect "$workflow"
timeout "$duration" "$bin/edgeless_cli" -c "$work/cli.toml" workflow logs "$workflow" -f || true
echo "== stopping workflow $workflow" >&2
"$bin/edgeless_cli" -c "$work/cli.toml" workflow stop "$workflow"
workflow=""
