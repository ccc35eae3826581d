//! Upgrades: every fixture in tests/data/schema-vN.db (a database as release N's schema left
//! it, with the data its schema-vN.json lists) opens in this build with that data intact, and
//! would also survive one more migration. A database from a newer schema is refused untouched.

use super::*;
use rusqlite_migration::{Migrations, M};
use std::collections::BTreeMap;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// (fixture path, manifest) for every committed schema fixture.
fn fixtures() -> Vec<(PathBuf, serde_json::Value)> {
    let mut found: Vec<_> = std::fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("schema-v") && name.ends_with(".db")
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no tests/data/schema-v*.db fixture");
    found
        .into_iter()
        .map(|db| {
            let manifest = std::fs::read_to_string(db.with_extension("json")).unwrap();
            (db, serde_json::from_str(&manifest).unwrap())
        })
        .collect()
}

/// A data dir holding a copy of `fixture` (the committed file is never opened for writing).
fn copy_of(fixture: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(fixture, tmp.path().join(DB_FILE)).unwrap();
    tmp
}

fn assert_data_intact(store: &Store, manifest: &serde_json::Value, fixture: &Path) {
    let projects: BTreeMap<String, String> =
        store.list_projects().unwrap().into_iter().map(|p| (p.id.to_string(), p.name.to_string())).collect();
    let want: BTreeMap<String, String> = manifest["projects"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(projects, want, "{}", fixture.display());
    for (kid, project) in manifest["keys"].as_object().unwrap() {
        let id = ProjectId::parse(project.as_str().unwrap()).unwrap();
        let kids: Vec<String> = store.list_keys(&id).unwrap().into_iter().map(|k| k.kid.to_string()).collect();
        assert!(kids.contains(kid), "{}: {kid} missing from {kids:?}", fixture.display());
    }
    assert_eq!(store.load_keyset().unwrap().len(), manifest["keys"].as_object().unwrap().len());
    let names: Vec<String> =
        store.list_accounts().unwrap().into_iter().map(|a| a.username.as_str().to_owned()).collect();
    let want_names: Vec<String> =
        manifest["accounts"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(names, want_names, "{}", fixture.display());
    let (_, hash) = store.account(&want_names[0]).unwrap().unwrap();
    assert!(crate::password::verify(manifest["password"].as_str().unwrap(), &hash), "password hash survives");
    let mut actions: Vec<String> = store.recent_audit(1000).unwrap().into_iter().map(|e| e.action).collect();
    actions.reverse();
    let want_actions: Vec<String> =
        manifest["audit_actions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, want_actions, "{}", fixture.display());
    assert!(store.turn_secrets().unwrap().is_some(), "TURN secret survives");
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[test]
fn every_schema_fixture_opens_with_its_data_intact() {
    for (fixture, manifest) in fixtures() {
        let dir = copy_of(&fixture);
        let store = Store::open(dir.path(), OpenMode::MustExist).unwrap();
        assert_data_intact(&store, &manifest, &fixture);
        drop(store);
        assert_eq!(user_version(&dir.path().join(DB_FILE)), schema::latest_version());
        let from = manifest["schema"].as_i64().unwrap();
        let backup = dir.path().join(format!("{DB_FILE}.pre-v{}.bak", schema::latest_version()));
        // A backup exactly when a migration ran.
        assert_eq!(backup.exists(), from < schema::latest_version(), "{}", fixture.display());
    }
}

/// Today's migrations plus one more, standing for the next release's schema.
fn with_a_later_schema() -> (Migrations<'static>, i64) {
    let mut steps = schema::steps();
    steps.push(M::up("ALTER TABLE projects ADD COLUMN next_release_note TEXT;"));
    (Migrations::new(steps), schema::latest_version() + 1)
}

#[test]
fn every_fixture_survives_a_later_migration_after_a_0600_backup_of_it() {
    let (migrations, later) = with_a_later_schema();
    for (fixture, manifest) in fixtures() {
        let dir = copy_of(&fixture);
        let original = std::fs::read(&fixture).unwrap();
        let store = Store::open_with(dir.path(), OpenMode::MustExist, &migrations, later).unwrap();
        assert_data_intact(&store, &manifest, &fixture);
        drop(store);
        let db = dir.path().join(DB_FILE);
        assert_eq!(user_version(&db), later);
        let backup = dir.path().join(format!("{DB_FILE}.pre-v{later}.bak"));
        assert_eq!(mode(&backup), 0o600);
        // The backup is the database as it was: the fixture's schema and data.
        assert_eq!(user_version(&backup), manifest["schema"].as_i64().unwrap());
        let bdir = tempfile::tempdir().unwrap();
        std::fs::copy(&backup, bdir.path().join(DB_FILE)).unwrap();
        let restored = Store::open(bdir.path(), OpenMode::MustExist).unwrap();
        assert_data_intact(&restored, &manifest, &fixture);
        assert_eq!(std::fs::read(&fixture).unwrap(), original, "the committed fixture is never written");
    }
}

#[test]
fn a_second_upgrade_never_overwrites_the_first_backup() {
    let (migrations, later) = with_a_later_schema();
    let (fixture, _) = fixtures().pop().unwrap();
    let dir = copy_of(&fixture);
    let first = dir.path().join(format!("{DB_FILE}.pre-v{later}.bak"));
    std::fs::write(&first, b"an older backup").unwrap();
    drop(Store::open_with(dir.path(), OpenMode::MustExist, &migrations, later).unwrap());
    assert_eq!(std::fs::read(&first).unwrap(), b"an older backup");
    assert!(dir.path().join(format!("{DB_FILE}.pre-v{later}.1.bak")).exists());
}

#[test]
fn a_new_database_needs_no_backup() {
    let (dir, store) = open_temp();
    drop(store);
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bak"))
        .collect();
    assert!(backups.is_empty(), "{backups:?}");
}

fn sha256(path: &Path) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, &std::fs::read(path).unwrap()).as_ref().to_vec()
}

/// A data dir whose database a "newer edgebeam" (schema 99) left with a live WAL: the
/// version bump is committed in the main file (`in_main_file`) or only in the WAL.
fn newer_database(in_main_file: bool) -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    drop(Store::open(src.path(), OpenMode::CreateIfMissing).unwrap());
    let conn = rusqlite::Connection::open(src.path().join(DB_FILE)).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
    if in_main_file {
        conn.execute_batch("PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    conn.execute_batch("CREATE TABLE from_the_future (x); INSERT INTO from_the_future VALUES (1);").unwrap();
    if !in_main_file {
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    // Copy while the writer is open, so the copy keeps an uncheckpointed WAL.
    let dst = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal"] {
        std::fs::copy(src.path().join(format!("{DB_FILE}{suffix}")), dst.path().join(format!("{DB_FILE}{suffix}")))
            .unwrap();
    }
    drop(conn);
    dst
}

#[test]
fn a_newer_schema_is_refused_and_neither_the_file_nor_its_wal_is_touched() {
    for in_main_file in [true, false] {
        let dir = newer_database(in_main_file);
        let db = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        assert!(std::fs::metadata(&wal).unwrap().len() > 0, "the fixture has a WAL to replay");
        let before = (sha256(&db), sha256(&wal), mode(&db));
        for _ in 0..2 {
            let e = Store::open(dir.path(), OpenMode::CreateIfMissing).err().unwrap();
            assert!(
                matches!(e, StoreError::TooNew { found: 99, supported, .. } if supported == schema::latest_version()),
                "{e}"
            );
            let text = e.to_string();
            assert!(text.contains("newer edgebeam") && text.contains("left untouched"), "{text}");
        }
        assert_eq!((sha256(&db), sha256(&wal), mode(&db)), before, "in_main_file = {in_main_file}");
        let baks = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "bak"))
            .count();
        assert_eq!(baks, 0, "no migration was attempted");
    }
}
