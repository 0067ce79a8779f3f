#!/usr/bin/env bash
# Measures HTTP requests per second through http-ingress → function →
# response (examples/http_ingress on edgeless_inabox, release build), and
# through a plain HTTP server as the baseline, with wrk on loopback.
#
#   ./scripts/bench_http_ingress.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-10}
connections=${2:-32}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

cargo build --release --bins --quiet
bin="$root/target/release"
export EDGELESS_FUNCTIONS_TARGET_DIR="$root/target/functions"
"$bin/edgeless_cli" function build functions/http_processor/function.json >/dev/null

work=$(mktemp -d)
(cd "$work" && "$bin/edgeless_inabox" -t --initial-port 7600 2>/dev/null && "$bin/edgeless_cli" -t cli.toml 2>/dev/null)
RUST_LOG=warn "$bin/edgeless_inabox" --config-path "$work" 2>"$work/inabox.log" &
inabox=$!
baseline_pid=""
trap 'kill $inabox $baseline_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$bin/edgeless_cli" -c "$work/cli.toml" domain list -o json 2>/dev/null | grep -q '"num_nodes": 1' && break
  sleep 0.2
done
"$bin/edgeless_cli" -c "$work/cli.toml" workflow start examples/http_ingress/workflow.json >/dev/null
ingress=$(grep -o 'http_ingress_url = "[^"]*"' "$work/node.toml" | cut -d'"' -f2)
until curl -s -H "Host: demo.edgeless.com" "$ingress/hello" | grep -q World; do sleep 0.2; done

echo "== http-ingress → http_processor → response ($ingress/hello)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Host: demo.edgeless.com" "$ingress/hello"

port=$((RANDOM % 1000 + 18000))
"$bin/http_baseline" "$port" &
baseline_pid=$!
sleep 0.5
echo "== plain HTTP server (baseline, http://127.0.0.1:$port/hello)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/hello"
