#!/usr/bin/env bash
# Builds static release binaries with cargo-zigbuild, smoke-tests each one (ARM under
# qemu-user-static): `version`, then `serve` answering /healthz over HTTPS and exiting 0 on
# SIGTERM. Prints each binary's size. Binaries land in dist/edgebeam-<target>.
#
#   cross/build.sh                       # all three targets
#   cross/build.sh aarch64-unknown-linux-musl
#
# Needs: pip install ziglang cargo-zigbuild; rustup target add <targets>;
# apt-get install qemu-user-static curl (cross/setup.sh does all of it).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
mkdir -p dist

runner_for() {
  case "$1" in
    x86_64-*) echo "" ;;
    aarch64-*) echo "qemu-aarch64-static" ;;
    armv7-*) echo "qemu-arm-static" ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
  esac
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

smoke_test() {
  local bin="$1" runner="$2" dir port sport pid code
  echo "== smoke test $(basename "$bin") ${runner:+under $runner}"
  $runner "$bin" version
  dir=$(mktemp -d)
  port=$(free_port); sport=$(free_port)
  $runner "$bin" serve --data-dir "$dir/data" --admin-listen "127.0.0.1:$port" \
    --signal-listen "127.0.0.1:$sport" --log-level warn >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 1 300); do
    if curl -skf "https://127.0.0.1:$port/healthz" -o "$dir/health" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! grep -q '"status":"ok"' "$dir/health" 2>/dev/null; then
    echo "FAIL: /healthz did not answer"; cat "$dir/err"; kill -9 $pid 2>/dev/null; exit 1
  fi
  echo "healthz: $(cat "$dir/health")"
  kill -TERM $pid
  code=0; wait $pid || code=$?
  [ "$code" -eq 0 ] || { echo "FAIL: serve exited $code after SIGTERM"; cat "$dir/err"; exit 1; }
  echo "SIGTERM: exit 0"
  rm -rf "$dir"
}

for target in "${TARGETS[@]}"; do
  echo "== building $target"
  case "$target" in
    armv7-unknown-linux-musleabihf)
      # rustup ships no std for this target here, and zig cannot link glibc statically, so a
      # static armv7 binary needs std built from source (nightly + rust-src) with zig's musl
      # start files instead of Rust's self-contained ones.
      RUSTFLAGS="${RUSTFLAGS:-} -C link-self-contained=no" cargo +nightly zigbuild --release --locked \
        --target "$target" -Zbuild-std=std,panic_abort --bin edgebeam ;;
    armv7-unknown-linux-gnueabihf)
      # glibc 2.28, dynamically linked (zig cannot link glibc statically); needs an armhf
      # sysroot to run under qemu, so no smoke test here.
      cargo zigbuild --release --locked --target "$target.2.28" --bin edgebeam
      cp "target/$target/release/edgebeam" "dist/edgebeam-$target"
      continue ;;
    *)
      cargo zigbuild --release --locked --target "$target" --bin edgebeam ;;
  esac
  cp "target/$target/release/edgebeam" "dist/edgebeam-$target"
  smoke_test "dist/edgebeam-$target" "$(runner_for "$target")"
done

echo "== sizes (bytes)"
for target in "${TARGETS[@]}"; do
  f="dist/edgebeam-$target"
  printf '%-34s %9d  %s\n' "$target" "$(stat -c %s "$f")" "$(file -b "$f" | cut -d, -f1-2,5-6)"
done
