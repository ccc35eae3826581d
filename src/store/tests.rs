use super::*;
use crate::ids::{ProjectId, ProjectName, Username};
use crate::unixtime::UnixTime;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

mod accounts;
mod api_keys;
mod audit;
mod members;
mod projects;
mod sessions;
mod upgrades;
mod usage_hourly;

pub(super) fn open_temp() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    (tmp, store)
}

pub(super) fn make_account(store: &mut Store, name: &str, role: Role) -> Account {
    store.create_account(&Username::parse(name).unwrap(), "$argon2id$h", role, Actor::CLI, UnixTime(1)).unwrap()
}

pub(super) fn make_project(store: &mut Store, n: u8) -> ProjectId {
    let id = ProjectId::from_random([n; 16]);
    store.create_project(&id, &ProjectName::parse("app").unwrap(), Actor::CLI, UnixTime(1)).unwrap();
    id
}

#[test]
fn new_store_is_private_and_reopens_with_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut store = Store::open(&dir, OpenMode::CreateIfMissing).unwrap();
    let id = make_project(&mut store, 1);
    drop(store);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
    let store = Store::open(&dir, OpenMode::MustExist).unwrap();
    let projects = store.list_projects().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].id, id);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let audit = store.recent_audit(10).unwrap();
    assert_eq!(audit[0].action, "project.create");
}

#[test]
fn must_exist_refuses_a_missing_database() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Store::open(&tmp.path().join("nope"), OpenMode::MustExist).err().unwrap();
    assert!(matches!(e, StoreError::Missing(_)));
    assert!(!tmp.path().join("nope").exists());
}

#[test]
fn a_text_file_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    let content = b"this is my shopping list, not a database\n".repeat(10);
    std::fs::write(&path, &content).unwrap();
    let e = Store::open(tmp.path(), OpenMode::CreateIfMissing).err().unwrap();
    assert!(matches!(e, StoreError::NotADatabase(_)), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), content);
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');").unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let e = Store::open(tmp.path(), OpenMode::CreateIfMissing).err().unwrap();
    assert!(matches!(e, StoreError::ForeignDatabase(_)), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap());
    let conn = rusqlite::Connection::open(tmp.path().join(DB_FILE)).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let e = Store::open(tmp.path(), OpenMode::CreateIfMissing).err().unwrap();
    assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DB_FILE), b"").unwrap();
    let store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    assert_eq!(store.stats().unwrap().projects, 0);
}

#[test]
fn backup_copies_everything_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("d"), OpenMode::CreateIfMissing).unwrap();
    for n in 0..20 {
        make_project(&mut store, n);
    }
    let out = tmp.path().join("backup.db");
    store.backup_to(&out).unwrap();
    assert_eq!(mode(&out), 0o600);
    let copy = rusqlite::Connection::open(&out).unwrap();
    let n: i64 = copy.query_row("SELECT count(*) FROM projects", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 20);
    let before = std::fs::read(&out).unwrap();
    let e = store.backup_to(&out).err().unwrap();
    assert!(matches!(e, StoreError::OutputExists(_)));
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn account_creation_spends_the_setup_token_and_rejects_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    store.put_secret(secrets::SETUP_TOKEN_HASH, b"h", UnixTime(1)).unwrap();
    let name = Username::parse("ops").unwrap();
    let owner = store.create_account(&name, "$argon2id$x", Role::Owner, Actor::CLI, UnixTime(2)).unwrap();
    assert_eq!((owner.role, owner.created_at), (Role::Owner, UnixTime(2)));
    assert!(store.secret(secrets::SETUP_TOKEN_HASH).unwrap().is_none());
    let e = store.create_account(&name, "$argon2id$y", Role::Viewer, Actor::CLI, UnixTime(3)).err().unwrap();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(store.account_count().unwrap(), 1);
}

#[test]
fn secret_or_insert_keeps_the_first_value() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    let a = store.secret_or_insert(secrets::TURN_SECRET, b"first", UnixTime(1)).unwrap();
    let b = store.secret_or_insert(secrets::TURN_SECRET, b"second", UnixTime(2)).unwrap();
    assert_eq!(a, b"first");
    assert_eq!(b, b"first");
}

#[test]
fn worker_runs_jobs_off_the_executor() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    let (handle, thread) = worker::StoreHandle::spawn(store);
    let stats = smol::block_on(handle.call(|s| s.stats())).unwrap().unwrap();
    assert_eq!(stats.projects, 0);
    drop(handle);
    thread.join().unwrap();
}

#[test]
fn keys_are_added_listed_loaded_and_deleted() {
    use crate::ids::Kid;
    use crate::proto::token::keyset::generate_key_pair;
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    let project = make_project(&mut store, 1);
    let (_, material) = generate_key_pair([3; 32]).unwrap();
    let kid = Kid::from_random([1; 8]);
    store
        .add_key(&project, &kid, &material, None, crate::store::KeyOrigin::Registered, Actor::CLI, UnixTime(5))
        .unwrap();
    let missing = ProjectId::parse("nope").unwrap();
    let e = store
        .add_key(
            &missing,
            &Kid::from_random([2; 8]),
            &material,
            None,
            crate::store::KeyOrigin::Registered,
            Actor::CLI,
            UnixTime(5),
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::NoSuchProject(_)));
    assert_eq!(store.list_keys(&project).unwrap().len(), 1);
    let set = store.load_keyset().unwrap();
    let entry = set.get(kid.as_str()).unwrap();
    assert_eq!(entry.project, project);
    assert_eq!(entry.point, material.point);
    assert_eq!(entry.max_ttl_secs, 86_400);
    assert_eq!(store.load_key(&kid).unwrap().as_ref(), Some(entry), "one key reads as the whole set does");
    assert_eq!(store.load_key(&Kid::from_random([9; 8])).unwrap(), None);
    assert_eq!(store.delete_key(&kid, Actor::CLI, UnixTime(6)).unwrap(), project);
    assert!(matches!(store.delete_key(&kid, Actor::CLI, UnixTime(7)), Err(StoreError::NoSuchKey(_))));
    assert!(store.load_keyset().unwrap().is_empty());
    assert_eq!(store.load_key(&kid).unwrap(), None);
    let actions: Vec<String> = store.recent_audit(10).unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(&actions[..2], ["key.delete", "key.add"]);
}

#[test]
fn data_version_moves_when_another_connection_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    let before = store.data_version().unwrap();
    let mut other = Store::open(tmp.path(), OpenMode::MustExist).unwrap();
    make_project(&mut other, 9);
    assert_ne!(store.data_version().unwrap(), before);
}

#[test]
fn a_corrupted_database_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
        for n in 0..30 {
            make_project(&mut store, n);
        }
        store.put_secret("padding", &vec![7u8; 20_000], UnixTime(1)).unwrap();
        store.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    let path = tmp.path().join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    // Scribble over every page after the first, keeping the header valid.
    for b in bytes[4096..].iter_mut() {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = Store::open(tmp.path(), OpenMode::CreateIfMissing).err().expect("corruption is detected");
    assert!(matches!(e, StoreError::Corrupt { .. } | StoreError::NotADatabase(_)), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn rotating_the_turn_secret_keeps_the_previous_one_with_the_rotation_time() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    store.secret_or_insert(secrets::TURN_SECRET, b"first", UnixTime(10)).unwrap();
    let s = store.turn_secrets().unwrap().unwrap();
    assert_eq!((s.current.as_slice(), s.previous), (&b"first"[..], None));
    store.rotate_turn_secret(b"second", UnixTime(20), Actor::CLI).unwrap();
    let s = store.turn_secrets().unwrap().unwrap();
    assert_eq!(s.current, b"second");
    assert_eq!(s.previous, Some((b"first".to_vec(), UnixTime(20))));
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "turn.rotate_secret");
}

#[test]
fn relay_usage_adds_up_per_day_and_skips_deleted_projects() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    let id = make_project(&mut store, 3);
    let gone = ProjectId::from_random([9; 16]);
    let u = usage::RelayUsage { bytes: 1000, packets: 10, allocations: 1 };
    store.add_relay_usage(5, &[(id.clone(), u), (gone.clone(), u)]).unwrap();
    store.add_relay_usage(5, &[(id.clone(), u)]).unwrap();
    assert_eq!(store.relay_usage(&id, 5).unwrap(), usage::RelayUsage { bytes: 2000, packets: 20, allocations: 2 });
    assert_eq!(store.relay_usage(&gone, 5).unwrap(), usage::RelayUsage::default());
    assert_eq!(usage::day_of(UnixTime(86_400 * 3 + 5)), 3);
}

/// The CLI deletes a key (a read, then a write) while `serve` writes to the same database (it
/// records TURN credentials as signaling hands them out). A deferred transaction that had read could not take the write lock once the
/// other connection had committed, and failed at once with "database is locked", busy timeout
/// or not; a write transaction takes the lock when it begins, so the other writer waits.
#[test]
fn a_write_transaction_that_reads_first_is_not_failed_by_another_connections_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cli = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
    let mut server = Store::open(tmp.path(), OpenMode::MustExist).unwrap();
    let tx = cli.write_transaction().unwrap();
    let keys: i64 = tx.query_row("SELECT count(*) FROM keys", [], |r| r.get(0)).unwrap();
    let writer = std::thread::spawn(move || {
        let id = ProjectId::from_random([2; 16]);
        server.create_project(&id, &ProjectName::parse("app").unwrap(), Actor::CLI, UnixTime(1))
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    tx.execute("INSERT INTO audit_log (at, actor, source, action) VALUES (1, 'cli', '', 'x')", []).unwrap();
    tx.commit().unwrap();
    assert_eq!(keys, 0);
    writer.join().unwrap().expect("the other writer waited for the lock");
}
