#!/usr/bin/env bash
# Makes tests/data/schema-vN.db (N = the schema this build writes) and its manifest
# schema-vN.json with the data tests/upgrades.rs expects to survive every later migration.
# Run it once per schema version, with the release that introduced it, and commit both files;
# never regenerate an existing fixture: it stands for what that release left on disk.
#   tests/data/make-schema-fixture.sh 3
set -euo pipefail
cd "$(dirname "$0")/../.."
n="$1"
out="tests/data/schema-v$n.db"
[ -e "$out" ] && { echo "$out exists; fixtures are never regenerated" >&2; exit 1; }
cargo build --quiet --bin edgebeam
bin="${CARGO_TARGET_DIR:-target}/debug/edgebeam"
dir=$(mktemp -d)
p1=$("$bin" project create --data-dir "$dir" "Door cameras")
p2=$("$bin" project create --data-dir "$dir" "Support calls")
k1=$("$bin" key create --data-dir "$dir" --project "$p1" --out "$dir/k1.pem")
k2=$("$bin" key create --data-dir "$dir" --project "$p2" --out "$dir/k2.pem")
echo 'fixture-password-1' | "$bin" admin create --data-dir "$dir" --username ops 2>/dev/null
"$bin" turn rotate-secret --data-dir "$dir" 2>/dev/null
python3 - "$dir/edgebeam.db" "$out" "$p1" "$p2" "$k1" "$k2" "$n" <<'PY'
import json, shutil, sqlite3, sys
db, out, p1, p2, k1, k2, n = sys.argv[1:]
c = sqlite3.connect(db)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
assert c.execute("PRAGMA user_version").fetchone()[0] == int(n)
audit = [r[0] for r in c.execute("SELECT action FROM audit_log ORDER BY id")]
c.close()
shutil.copyfile(db, out)
manifest = {
    "schema": int(n),
    "projects": {p1: "Door cameras", p2: "Support calls"},
    "keys": {k1: p1, k2: p2},
    "accounts": ["ops"],
    "password": "fixture-password-1",
    "audit_actions": audit,
}
open(out[:-3] + ".json", "w").write(json.dumps(manifest, indent=2) + "\n")
PY
rm -rf "$dir"
echo "wrote $out"
