#!/usr/bin/env bash
# Checks what cross/release.sh VERSION put in dist/: tarball layouts, each .deb's metadata and
# contents (and that it carries the same binary as its tarball), the packaged unit's sandbox
# (systemd-analyze security exposure at most 2.0), SHA256SUMS, and the signature when a public
# key is given (MINISIGN_PUB). Then, only as root and only in CI or with
# EB_TEST_DEB_INSTALL=1 (it changes the machine), installs the amd64 .deb, verifies the
# installed unit, and removes and purges it again. (No variable of these scripts starts with
# EDGEBEAM_: `serve` refuses unknown EDGEBEAM_* variables, and the smoke tests inherit them.)
#   cross/check-release.sh 0.2.0
set -euo pipefail
cd "$(dirname "$0")/../dist"
VERSION="$1"
TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
ARCHS=(amd64 arm64 armhf)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

echo "== SHA256SUMS"
sha256sum -c SHA256SUMS
if [ -n "${MINISIGN_PUB:-}" ]; then
  minisign -V -p "$MINISIGN_PUB" -m SHA256SUMS
fi

for i in 0 1 2; do
  t=${TARGETS[$i]} arch=${ARCHS[$i]}
  name="edgebeam-$VERSION-$t"
  echo "== $name.tar.gz"
  want=$(printf '%s\n' "$name/" "$name/LICENSE" "$name/README.md" "$name/config.example.toml" \
    "$name/edgebeam" "$name/edgebeam.env.example" "$name/edgebeam.service")
  got=$(tar -tzf "$name.tar.gz" | sort)
  [ "$got" = "$want" ] || fail "$name.tar.gz holds:"$'\n'"$got"
  tar -xzf "$name.tar.gz" -C "$work"

  deb="edgebeam_${VERSION}_$arch.deb"
  echo "== $deb"
  info=$(dpkg-deb -I "$deb")
  for field in "Package: edgebeam" "Version: $VERSION" "Architecture: $arch"; do
    grep -qx " $field" <<<"$info" || fail "$deb: no '$field' in control"
  done
  contents=$(dpkg-deb -c "$deb")
  for path in ./usr/bin/edgebeam ./lib/systemd/system/edgebeam.service ./etc/edgebeam/edgebeam.env \
    ./usr/share/doc/edgebeam/copyright; do
    grep -q " $path\$" <<<"$contents" || fail "$deb does not contain $path"
  done
  grep -q '^-rwxr-xr-x root/root .* ./usr/bin/edgebeam$' <<<"$contents" || fail "$deb: /usr/bin/edgebeam mode/owner"
  [ "$(dpkg-deb -f "$deb" Package)" = edgebeam ]
  mkdir -p "$work/$arch"
  dpkg-deb -x "$deb" "$work/$arch"
  dpkg-deb -e "$deb" "$work/$arch/DEBIAN"
  grep -qx /etc/edgebeam/edgebeam.env "$work/$arch/DEBIAN/conffiles" || fail "$deb: edgebeam.env is no conffile"
  for script in postinst prerm postrm; do
    [ -x "$work/$arch/DEBIAN/$script" ] || fail "$deb: no executable $script"
  done
  cmp -s "$work/$arch/usr/bin/edgebeam" "$work/$name/edgebeam" || fail "$deb and $name.tar.gz carry different binaries"
  grep -q '^ExecStart=/usr/bin/edgebeam serve$' "$work/$arch/lib/systemd/system/edgebeam.service" \
    || fail "$deb: the unit does not run /usr/bin/edgebeam"
  if grep -v "^ *#" "$work/$arch/DEBIAN/postinst" | grep -v "echo\|^ *[0-9]\.\|sudo" | grep -q "systemctl \(start\|enable\|restart\)"; then
    fail "$deb: postinst starts the service"
  fi
done

echo "== packaged unit: systemd-analyze security (exposure at most 2.0)"
unit="$work/amd64/lib/systemd/system/edgebeam.service"
out=$(systemd-analyze security --offline=true --threshold=20 "$unit") || {
  echo "$out" | tail -3; fail "the packaged unit's exposure is above 2.0"; }
echo "$out" | grep 'Overall exposure'

if [ "$(id -u)" = 0 ] && { [ "${CI:-}" = true ] || [ "${EB_TEST_DEB_INSTALL:-}" = 1 ]; }; then
  echo "== dpkg -i edgebeam_${VERSION}_amd64.deb (root, CI)"
  if dpkg-query -W -f='${Status}' edgebeam 2>/dev/null | grep -q installed; then
    fail "an edgebeam package is installed already; not touching it"
  fi
  dpkg -i "edgebeam_${VERSION}_amd64.deb"
  v=$(/usr/bin/edgebeam version); [ "${v%%$'\n'*}" = "edgebeam $VERSION" ] || fail "installed binary's version: $v"
  [ -f /lib/systemd/system/edgebeam.service ] || fail "unit not installed"
  [ -f /etc/edgebeam/edgebeam.env ] || fail "environment file not installed"
  verify=$(systemd-analyze verify /lib/systemd/system/edgebeam.service 2>&1) || true
  [ -z "$verify" ] || { dpkg -P edgebeam; fail "systemd-analyze verify: $verify"; }
  echo "systemd-analyze verify: clean"
  if [ -d /run/systemd/system ] && systemctl is-active --quiet edgebeam; then
    dpkg -P edgebeam; fail "postinst started the service"
  fi
  dpkg -r edgebeam
  [ ! -e /usr/bin/edgebeam ] && [ ! -e /lib/systemd/system/edgebeam.service ] || fail "dpkg -r left files"
  [ -f /etc/edgebeam/edgebeam.env ] || fail "dpkg -r removed the conffile (only purge should)"
  dpkg -P edgebeam
  [ ! -e /etc/edgebeam/edgebeam.env ] || fail "dpkg -P left the conffile"
  echo "dpkg -r and -P: removed"
else
  echo "(dpkg -i test skipped: needs root and CI=true or EB_TEST_DEB_INSTALL=1)"
fi
echo "== dist/ checked"
