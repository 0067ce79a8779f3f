#!/usr/bin/env bash
# Builds the node (and the CLI) for an ARM board from this x86_64 machine:
# static (musl), stripped, release binaries.
#
#   ./scripts/build-edge.sh aarch64-unknown-linux-musl        # 64-bit ARM (Raspberry Pi 3/4/5, 64-bit OS)
#   ./scripts/build-edge.sh armv7-unknown-linux-musleabihf    # 32-bit ARM (32-bit Raspberry Pi OS)
#   EDGE_BINS=edgeless_node_d ./scripts/build-edge.sh aarch64-unknown-linux-musl   # the node only
#
# It adds the Rust target with rustup, and links with zig (`cargo zigbuild`):
# zig comes from PyPI (`pip install ziglang`), cargo-zigbuild from crates.io
# (`cargo install cargo-zigbuild`); both are installed when missing. The
# binaries land in target/TARGET/release/; their paths are printed last.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-}
case "$target" in
  aarch64-unknown-linux-musl | armv7-unknown-linux-musleabihf) ;;
  *)
    echo "usage: $0 aarch64-unknown-linux-musl|armv7-unknown-linux-musleabihf" >&2
    exit 2
    ;;
esac
bins=${EDGE_BINS:-edgeless_node_d edgeless_cli}

if command -v rustup >/dev/null; then
  rustup target add "$target" >&2
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

args=(--release --target "$target")
for bin in $bins; do
  case "$bin" in
    edgeless_node_d) args+=(-p edgeless_node --bin edgeless_node_d) ;;
    edgeless_cli) args+=(-p edgeless_cli --bin edgeless_cli) ;;
    *) echo "unknown binary $bin (edgeless_node_d, edgeless_cli)" >&2; exit 2 ;;
  esac
done

echo "== building $bins for $target (a release build: several minutes)" >&2
cargo zigbuild "${args[@]}" >&2
for bin in $bins; do
  path="target/$target/release/$bin"
  echo "$path ($(du -h "$path" | cut -f1))" >&2
  echo "$path"
done
