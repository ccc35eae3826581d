#!/usr/bin/env bash
# Builds static release binaries with cargo-zigbuild, smoke-tests each one (ARM under
# qemu-user-static): `version`, then `serve` answering /healthz over HTTPS and exiting 0 on
# SIGTERM. Prints each binary's size. Binaries land in dist/edgebeam-<target>.
#
#   cross/build.sh                       # all three targets
#   cross/build.sh aarch64-unknown-linux-musl
#
# Needs: pip install ziglang cargo-zigbuild; rustup target add <targets>; apt-get install
# qemu-user-static curl gcc-arm-linux-gnueabihf libc6-dev-armhf-cross (cross/setup.sh does it).
# All on the stable toolchain. CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
OUT="${CARGO_TARGET_DIR:-target}"
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
    armv7-unknown-linux-gnueabihf)
      # 32-bit ARMv7 hard float, fully static on the stable toolchain. rustup has no stable std
      # for armv7-unknown-linux-musleabihf here (its download is missing), and zig cannot link
      # glibc statically, so this links glibc statically (crt-static) with Debian's armhf cross
      # gcc and libc.a. Static glibc's one catch is NSS: host-name lookups through modules other
      # than files/dns (built into glibc 2.34+) would dlopen them; edgebeam binds and relays IP
      # addresses and does not resolve names.
      CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
      CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc \
      AR_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-ar \
      CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked --target "$target" --bin edgebeam ;;
    *)
      cargo zigbuild --release --locked --target "$target" --bin edgebeam ;;
  esac
  cp "$OUT/$target/release/edgebeam" "dist/edgebeam-$target"
  if ! file -b "dist/edgebeam-$target" | grep -Eq 'statically linked|static-pie linked'; then
    echo "FAIL: dist/edgebeam-$target is not statically linked: $(file -b "dist/edgebeam-$target")"; exit 1
  fi
  smoke_test "dist/edgebeam-$target" "$(runner_for "$target")"
done

echo "== sizes (bytes)"
for target in "${TARGETS[@]}"; do
  f="dist/edgebeam-$target"
  printf '%-34s %9d  %s\n' "$target" "$(stat -c %s "$f")" "$(file -b "$f" | cut -d, -f1-2,5-6)"
done
