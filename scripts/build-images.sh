#!/usr/bin/env bash
# Builds the daemon images with the local dockerd (no registry):
#   edgeless-con, edgeless-orc, edgeless-node, edgeless-bal, edgeless-cli
# each FROM scratch with one static x86_64 musl binary (release, stripped).
# Needs the x86_64-unknown-linux-musl target (added here) and musl-gcc
# (Debian: apt-get install musl-tools). TAG=version sets the image tag
# (default: latest). Prints each image and its size.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
tag="${TAG:-latest}"
if ! command -v musl-gcc >/dev/null 2>&1; then
  echo "build-images: musl-gcc is missing (apt-get install musl-tools)" >&2
  exit 1
fi
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target" >&2
fi

echo "== building static binaries ($target, release)" >&2
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}"
export CARGO_PROFILE_RELEASE_STRIP=symbols
cargo build --release --target "$target" --locked \
  -p edgeless_con -p edgeless_orc -p edgeless_node -p edgeless_bal -p edgeless_cli \
  --bin edgeless_con_d --bin edgeless_orc_d --bin edgeless_node_d --bin edgeless_bal_d --bin edgeless_cli >&2
bin="target/$target/release"

context="$(mktemp -d)"
trap 'rm -rf "$context" "$context.log"' EXIT
for pair in con:edgeless_con_d orc:edgeless_orc_d node:edgeless_node_d bal:edgeless_bal_d cli:edgeless_cli; do
  role="${pair%%:*}"
  binary="${pair#*:}"
  rm -rf "${context:?}"/*
  cp "$bin/$binary" "$context/$binary"
  # The daemons write their state under /var/lib/edgeless (as root) and
  # cache compiled modules under $HOME/.cache: both exist in the image.
  mkdir -p "$context/root/var/lib/edgeless" "$context/root/root/.cache" "$context/root/tmp"
  cat > "$context/Dockerfile" <<DOCKERFILE
FROM scratch
COPY root/ /
COPY $binary /$binary
ENV HOME=/root
LABEL org.opencontainers.image.title="edgeless-$role" \\
      org.opencontainers.image.description="edgeless $binary, a static binary"
ENTRYPOINT ["/$binary"]
DOCKERFILE
  if ! docker build --quiet -t "edgeless-$role:$tag" "$context" >/dev/null 2>"$context.log"; then
    cat "$context.log" >&2
    exit 1
  fi
  size="$(docker image inspect "edgeless-$role:$tag" --format '{{.Size}}')"
  echo "edgeless-$role:$tag $((size / 1024 / 1024)) MiB"
done
