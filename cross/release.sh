#!/usr/bin/env bash
# Builds a release into dist/ (SPEC "Releases"):
#   edgebeam-VERSION-TARGET.tar.gz   for x86_64/aarch64 musl and armv7 hard float (static glibc),
#                                    each holding edgebeam-VERSION-TARGET/ with edgebeam,
#                                    edgebeam.service, edgebeam.env.example, config.example.toml,
#                                    README.md, LICENSE
#   edgebeam_VERSION_{amd64,arm64,armhf}.deb
#   SHA256SUMS, and SHA256SUMS.minisig when MINISIGN_KEY names a minisign secret key file
#   (one made with `minisign -G -W`, no password).
#
#   cross/release.sh 0.2.0
#   MINISIGN_KEY=~/edgebeam.key cross/release.sh 0.2.0
#
# The binaries are built and smoke-tested by cross/build.sh (ARM under qemu) with the version
# passed in (EB_RELEASE_VERSION) and the build date of the last commit (SOURCE_DATE_EPOCH),
# so archives are reproducible for a given commit. Needs what cross/setup.sh installs, plus
# dpkg-deb (and minisign to sign).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${1:-}"
if ! [[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([.+~][0-9A-Za-z.+~]+)?$ ]]; then
  echo "usage: cross/release.sh VERSION   (e.g. 0.2.0)" >&2; exit 2
fi
if [ -n "${MINISIGN_KEY:-}" ] && [ ! -r "$MINISIGN_KEY" ]; then
  echo "MINISIGN_KEY=$MINISIGN_KEY is not a readable file" >&2; exit 2
fi
started=$(date +%s)
export EB_RELEASE_VERSION="$VERSION"
SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
export SOURCE_DATE_EPOCH

TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
deb_arch() {
  case "$1" in
    x86_64-*) echo amd64 ;; aarch64-*) echo arm64 ;; armv7-*) echo armhf ;;
    *) echo "no Debian architecture for $1" >&2; exit 2 ;;
  esac
}
runner_for() {
  case "$1" in x86_64-*) echo "" ;; aarch64-*) echo qemu-aarch64-static ;; armv7-*) echo qemu-arm-static ;; esac
}

mkdir -p dist
rm -f dist/edgebeam-"$VERSION"-*.tar.gz dist/edgebeam_"$VERSION"_*.deb dist/SHA256SUMS dist/SHA256SUMS.minisig

cross/build.sh "${TARGETS[@]}"

# Every binary says the version it is released as.
for t in "${TARGETS[@]}"; do
  got=$($(runner_for "$t") "dist/edgebeam-$t" version)
  got=${got%%$'\n'*}
  [ "$got" = "edgebeam $VERSION" ] || { echo "FAIL: dist/edgebeam-$t says '$got', not 'edgebeam $VERSION'"; exit 1; }
done

# The shipped examples are generated from the knob table; the committed copies must match.
host=dist/edgebeam-x86_64-unknown-linux-musl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$host" config example >"$work/config.example.toml"
"$host" config example --env >"$work/edgebeam.env.example"
cmp -s "$work/config.example.toml" config.example.toml || { echo "FAIL: config.example.toml is stale"; exit 1; }
cmp -s "$work/edgebeam.env.example" systemd/edgebeam.env.example || { echo "FAIL: systemd/edgebeam.env.example is stale"; exit 1; }

reproducible_tar() { # DIR-PARENT NAME OUT
  tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    --format=gnu -cf - "$2" | gzip -n -9 >"$3"
}

for t in "${TARGETS[@]}"; do
  name="edgebeam-$VERSION-$t"
  echo "== $name.tar.gz"
  d="$work/tar/$name"
  mkdir -p "$d"
  install -m 0755 "dist/edgebeam-$t" "$d/edgebeam"
  install -m 0644 systemd/edgebeam.service "$d/edgebeam.service"
  install -m 0644 systemd/edgebeam.env.example "$d/edgebeam.env.example"
  install -m 0644 "$work/config.example.toml" "$d/config.example.toml"
  install -m 0644 README.md LICENSE "$d/"
  reproducible_tar "$work/tar" "$name" "dist/$name.tar.gz"

  arch=$(deb_arch "$t")
  deb="edgebeam_${VERSION}_$arch.deb"
  echo "== $deb"
  r="$work/deb-$arch"
  install -d -m 0755 "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/edgebeam" "$r/usr/share/doc/edgebeam"
  install -m 0755 "dist/edgebeam-$t" "$r/usr/bin/edgebeam"
  sed -e 's|/usr/local/bin/edgebeam|/usr/bin/edgebeam|g' \
      -e 's|^# Install: cp edgebeam /usr/local/bin/ .*|# Installed by the edgebeam package; enable with: systemctl enable --now edgebeam|' \
      -e '/^#          systemctl daemon-reload && systemctl enable --now edgebeam$/d' \
      systemd/edgebeam.service >"$r/lib/systemd/system/edgebeam.service"
  chmod 0644 "$r/lib/systemd/system/edgebeam.service"
  # The environment file may come to hold settings an operator considers private.
  install -m 0640 systemd/edgebeam.env.example "$r/etc/edgebeam/edgebeam.env"
  install -m 0644 README.md "$work/config.example.toml" systemd/edgebeam.env.example "$r/usr/share/doc/edgebeam/"
  {
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: edgebeam"
    echo
    echo "Files: *"
    echo "License: Apache-2.0"
    echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
  } >"$r/usr/share/doc/edgebeam/copyright"
  echo "/etc/edgebeam/edgebeam.env" >"$r/DEBIAN/conffiles"
  install -m 0755 cross/debian/postinst cross/debian/prerm cross/debian/postrm "$r/DEBIAN/"
  size_kib=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
  cat >"$r/DEBIAN/control" <<CONTROL
Package: edgebeam
Version: $VERSION
Architecture: $arch
Maintainer: edgebeam maintainers <edgebeam@localhost>
Section: net
Priority: optional
Installed-Size: $size_kib
Description: self-hosted WebRTC appliance: signaling, STUN/TURN and token auth
 One static binary that serves WebRTC signaling over WSS, a STUN/TURN relay
 whose credentials are bound to the same identity, and ES256 token auth,
 with an admin web UI and REST API. Runs as a hardened systemd service
 (edgebeam.service, a dynamic user, data in /var/lib/edgebeam).
CONTROL
  dpkg-deb --root-owner-group -Zxz --build "$r" "dist/$deb" >/dev/null
done

echo "== SHA256SUMS"
(cd dist && sha256sum edgebeam-"$VERSION"-*.tar.gz edgebeam_"$VERSION"_*.deb >SHA256SUMS && cat SHA256SUMS)
if [ -n "${MINISIGN_KEY:-}" ]; then
  echo "== SHA256SUMS.minisig"
  minisign -S -s "$MINISIGN_KEY" -m dist/SHA256SUMS -x dist/SHA256SUMS.minisig \
    -t "edgebeam $VERSION SHA256SUMS" </dev/null
else
  echo "(MINISIGN_KEY not set: SHA256SUMS is not signed)"
fi

echo "== binary sizes (bytes)"
for t in "${TARGETS[@]}"; do printf '%-34s %9d\n' "$t" "$(stat -c %s "dist/edgebeam-$t")"; done
echo "== release $VERSION in dist/ after $(( $(date +%s) - started )) s"
