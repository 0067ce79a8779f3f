#!/usr/bin/env bash
# Builds edgeless, starts a single-host cluster (edgeless_inabox with two
# nodes), runs the ping-pong example workflow and shows what its functions
# log. Ctrl-C (or DURATION seconds, default 15) stops everything.
#
#   ./scripts/quickstart.sh                       # ping_pong
#   EXAMPLE=chain DURATION=30 ./scripts/quickstart.sh
#   EXAMPLE=container ./scripts/quickstart.sh     # needs a running dockerd
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
example=${EXAMPLE:-ping_pong}
duration=${DURATION:-15}

echo "== building edgeless (the first build takes a few minutes)" >&2
cargo build --bins --quiet
bin="$root/target/debug"

echo "== building the example's functions to WebAssembly" >&2
export EDGELESS_FUNCTIONS_TARGET_DIR="$root/target/functions"
for code in $(grep -o '"code": *"\.\./\.\./functions/[^"]*"' "examples/$example/workflow.json" | sed 's/.*"\.\.\/\.\.\/functions\/\([^/]*\)\/.*/\1/' | sort -u); do
  "$bin/edgeless_cli" function build "functions/$code/function.json" >/dev/null
done
# Container functions name an image `edgeless-<function>` built from functions/<function>.
containers=()
for image in $(grep -o '"code": *"edgeless-[^"]*"' "examples/$example/workflow.json" | sed 's/.*"edgeless-\([^"]*\)"/\1/' | sort -u); do
  echo "== building the container image edgeless-$image" >&2
  "$bin/edgeless_cli" function build-container "functions/$image" --tag "edgeless-$image" >/dev/null
  containers=(--containers)
done

work=$(mktemp -d)
echo "== starting edgeless_inabox with two nodes (configuration and log in $work)" >&2
(cd "$work" && "$bin/edgeless_inabox" -t -n 2 "${containers[@]}" 2>/dev/null && "$bin/edgeless_cli" -t cli.toml 2>/dev/null)
RUST_LOG=info "$bin/edgeless_inabox" --config-path "$work" 2>"$work/inabox.log" &
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

for _ in $(seq 1 100); do
  if "$bin/edgeless_cli" -c "$work/cli.toml" domain list 2>/dev/null | grep -q "(2 nodes)"; then break; fi
  if ! kill -0 "$inabox" 2>/dev/null; then
    echo "edgeless_inabox exited:" >&2; cat "$work/inabox.log" >&2; exit 1
  fi
  sleep 0.2
done
"$bin/edgeless_cli" -c "$work/cli.toml" domain list

workflow=$("$bin/edgeless_cli" -c "$work/cli.toml" workflow start "examples/$example/workflow.json")
echo "== workflow $workflow started; function logs for ${duration}s:" >&2
"$bin/edgeless_cli" -c "$work/cli.toml" workflow inspect "$workflow"
timeout "$duration" tail -n +1 -f "$work/inabox.log" | grep --line-buffered -E " function: | (WARN|ERROR) " | sed -u 's/ instance=[^ ]*//; s/ class=.*//' || true
echo "== stopping workflow $workflow" >&2
"$bin/edgeless_cli" -c "$work/cli.toml" workflow stop "$workflow"
workflow=""
