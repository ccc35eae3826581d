#!/usr/bin/env bash
# Installs what cross/build.sh, cross/release.sh and cross/check-release.sh need, all for the
# stable toolchain. Idempotent.
set -euo pipefail
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf
command -v cargo-zigbuild >/dev/null && python3 -c 'import ziglang' 2>/dev/null \
  || python3 -m pip install --quiet ziglang cargo-zigbuild
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v file >/dev/null || need+=(file)
command -v curl >/dev/null || need+=(curl)
# armv7: Debian's cross gcc and the armhf glibc (libc.a) for a static glibc link.
command -v arm-linux-gnueabihf-gcc >/dev/null || need+=(gcc-arm-linux-gnueabihf)
[ -f /usr/arm-linux-gnueabihf/lib/libc.a ] || need+=(libc6-dev-armhf-cross)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v minisign >/dev/null || need+=(minisign)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
