#!/usr/bin/env bash
# Installs what cross/build.sh needs. Idempotent.
set -euo pipefail
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf
# armv7 musl (static) builds std from source with nightly.
rustup component add rust-src --toolchain nightly
python3 -m pip install --quiet ziglang cargo-zigbuild
if ! command -v qemu-aarch64-static >/dev/null || ! command -v file >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq qemu-user-static file curl
fi
