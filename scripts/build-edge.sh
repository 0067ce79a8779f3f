#!/usr/bin/env bash
# Builds the node (and the CLI) for an ARM board from this x86_64 machine:
# static (musl), stripped, release binaries.
#
#   ./scripts/build-edge.sh aarch64-unknown-linux-musl        # 64-bit ARM (Raspberry Pi 3/4/5, 64-bit OS)
#   ./scripts/build-edge.sh armv7-unknown-linux-musleabihf    # 32-bit ARM (32-bit Raspberry Pi OS), static
#   ./scripts/build-edge.sh armv7-unknown-linux-gnueabihf     # the same, linked against glibc 2.17 or later
#   EDGE_BINS=edgeless_node_d ./scripts/build-edge.sh aarch64-unknown-linux-musl   # the node only
#   EDGE_NODE_FEATURES=tls,kafka ./scripts/build-edge.sh ...  # a node without containers and redis
#   EDGE_SPEED=1 ./scripts/build-edge.sh ...                  # optimized for speed (the release profile): bigger
#
# EDGE_NODE_FEATURES picks the node's cargo features (default: all of
# tls, containers, redis, kafka; empty string: none of them), see
# documentation/edge-devices.md.
#
# It adds the Rust target with rustup, and links with zig (`cargo zigbuild`):
# zig comes from PyPI (`pip install ziglang`), cargo-zigbuild from crates.io
# (`cargo install cargo-zigbuild`); both are installed when missing. The
# binaries land in target/TARGET/release/; their paths are printed last.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-}
case "$target" in
  aarch64-unknown-linux-musl | armv7-unknown-linux-musleabihf | armv7-unknown-linux-gnueabihf) ;;
  *)
    echo "usage: $0 aarch64-unknown-linux-musl|armv7-unknown-linux-musleabihf|armv7-unknown-linux-gnueabihf" >&2
    exit 2
    ;;
esac
# zig links glibc targets against the oldest glibc asked for.
zig_target=$target
case "$target" in *-gnu*) zig_target="$target.2.17" ;; esac
bins=${EDGE_BINS:-edgeless_node_d edgeless_cli}

if command -v rustup >/dev/null; then
  rustup target add "$target" >&2 || {
    echo "rustup could not add $target (is its standard library downloadable here?)" >&2
    exit 1
  }
elif ! rustc --print sysroot | xargs -I{} test -d "{}/lib/rustlib/$target"; then
  echo "the Rust target $target is not installed and rustup is not here to add it: install the standard library for $target" >&2
  exit 1
fi

if ! command -v zig >/dev/null && ! python3 -c 'import ziglang' 2>/dev/null; then
  echo "== installing zig (PyPI: ziglang) as the cross linker" >&2
  python3 -m pip install --quiet ziglang \
    || python3 -m pip install --quiet --break-system-packages ziglang
fi
if ! command -v cargo-zigbuild >/dev/null; then
  echo "== installing cargo-zigbuild" >&2
  cargo install --quiet --locked cargo-zigbuild
fi

if [ -z "${EDGE_SPEED:-}" ]; then
  # Boards have little storage: whole-program optimization for size (the
  # aarch64 node: 12 MB instead of 21 MB).
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
fi
for bin in $bins; do
  args=(--release --target "$zig_target")
  case "$bin" in
    edgeless_node_d)
      args+=(-p edgeless_node --bin edgeless_node_d)
      if [ -n "${EDGE_NODE_FEATURES+set}" ]; then
        args+=(--no-default-features --features "$EDGE_NODE_FEATURES")
      fi
      ;;
    edgeless_cli) args+=(-p edgeless_cli --bin edgeless_cli) ;;
    *) echo "unknown binary $bin (edgeless_node_d, edgeless_cli)" >&2; exit 2 ;;
  esac
  echo "== building $bin for $target (a release build: several minutes the first time)" >&2
  cargo zigbuild "${args[@]}" >&2
done
for bin in $bins; do
  path="target/$target/release/$bin"
  echo "$path ($(du -h "$path" | cut -f1))" >&2
  echo "$path"
done
