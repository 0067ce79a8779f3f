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
# Every port is one the system chooses; the daemons report them.
"$bin/edgeless_inabox" -t --initial-port 0 --config-path "$work" 2>/dev/null
RUST_LOG=warn "$bin/edgeless_inabox" --config-path "$work" --listening-file "$work/listening.toml" 2>"$work/inabox.log" &
inabox=$!
baseline_pid=""
trap 'kill $inabox $baseline_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -s "$work/listening.toml" ] && break
  sleep 0.1
done
listened() { sed -n "s/^$1 = \"\(.*\)\"$/\1/p" "$work/listening.toml"; }
controller=$(listened 'controller\.controller_url')
ingress=$(listened 'node0\.http_ingress_url')
[ -n "$controller" ] && [ -n "$ingress" ] || { echo "edgeless_inabox did not start:" >&2; cat "$work/inabox.log" >&2; exit 1; }
cli=("$bin/edgeless_cli" --controller-url "$controller")
for _ in $(seq 1 100); do
  "${cli[@]}" domain list -o json 2>/dev/null | grep -q '"num_nodes": 1' && break
  sleep 0.2
done
"${cli[@]}" workflow start examples/http_ingress/workflow.json >/dev/null
until curl -s -H "Host: demo.edgeless.com" "$ingress/hello" | grep -q World; do sleep 0.2; done

echo "== http-ingress → http_processor → response ($ingress/hello)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Host: demo.edgeless.com" "$ingress/hello"

"$bin/http_baseline" >"$work/baseline.url" &
baseline_pid=$!
until [ -s "$work/baseline.url" ]; do sleep 0.1; done
baseline=$(head -1 "$work/baseline.url")
echo "== plain HTTP server (baseline, $baseline/hello)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "$baseline/hello"
