use super::*;

const IDLE: i64 = 12 * 3600;
const LIFETIME: i64 = 7 * 86_400;

fn last_seen(store: &Store, id: &[u8; 32]) -> Option<i64> {
    use rusqlite::OptionalExtension;
    store
        .conn
        .query_row("SELECT last_seen_at FROM sessions WHERE id_hash = ?1", [&id[..]], |r| r.get(0))
        .optional()
        .unwrap()
}

#[test]
fn a_session_reads_back_with_its_account_and_csrf_token_and_is_deleted_on_logout() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    store.create_session(&[1; 32], ops.id, "csrf-1", "192.0.2.1", UnixTime(1000), LIFETIME).unwrap();
    let view = store.session(&[1; 32], UnixTime(1001), IDLE).unwrap().unwrap();
    assert_eq!(view, SessionView { account: ops, csrf_token: "csrf-1".into() });
    assert!(store.session(&[2; 32], UnixTime(1001), IDLE).unwrap().is_none());
    assert!(store.delete_session(&[1; 32]).unwrap());
    assert!(!store.delete_session(&[1; 32]).unwrap());
    assert!(store.session(&[1; 32], UnixTime(1002), IDLE).unwrap().is_none());
}

#[test]
fn an_idle_session_ends_after_idle_secs_to_the_second_and_is_deleted() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    store.create_session(&[1; 32], ops.id, "c", "s", UnixTime(0), LIFETIME).unwrap();
    assert!(store.session(&[1; 32], UnixTime(IDLE), IDLE).unwrap().is_some(), "exactly idle_secs is still good");
    // That read moved last_seen_at to IDLE; idle again from there.
    assert!(store.session(&[1; 32], UnixTime(2 * IDLE + 1), IDLE).unwrap().is_none());
    assert_eq!(last_seen(&store, &[1; 32]), None, "deleted");
}

#[test]
fn a_session_ends_at_its_absolute_expiry_however_active() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    store.create_session(&[1; 32], ops.id, "c", "s", UnixTime(0), 1000).unwrap();
    for t in (0..=1000).step_by(100) {
        assert!(store.session(&[1; 32], UnixTime(t), IDLE).unwrap().is_some(), "at {t}");
    }
    assert!(store.session(&[1; 32], UnixTime(1001), IDLE).unwrap().is_none());
    assert_eq!(last_seen(&store, &[1; 32]), None);
}

#[test]
fn last_seen_is_written_at_most_once_a_minute() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    store.create_session(&[1; 32], ops.id, "c", "s", UnixTime(100), LIFETIME).unwrap();
    store.session(&[1; 32], UnixTime(159), IDLE).unwrap().unwrap();
    assert_eq!(last_seen(&store, &[1; 32]), Some(100));
    store.session(&[1; 32], UnixTime(160), IDLE).unwrap().unwrap();
    assert_eq!(last_seen(&store, &[1; 32]), Some(160));
    store.session(&[1; 32], UnixTime(200), IDLE).unwrap().unwrap();
    assert_eq!(last_seen(&store, &[1; 32]), Some(160));
}

#[test]
fn creating_a_session_sweeps_sessions_past_their_expiry() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    let amy = make_account(&mut store, "amy", Role::Viewer);
    store.create_session(&[1; 32], ops.id, "c", "s", UnixTime(0), 10).unwrap();
    store.create_session(&[2; 32], amy.id, "c", "s", UnixTime(0), 10).unwrap();
    store.create_session(&[3; 32], amy.id, "c", "s", UnixTime(0), 100).unwrap();
    store.create_session(&[4; 32], ops.id, "c", "s", UnixTime(11), 10).unwrap();
    assert_eq!(last_seen(&store, &[1; 32]), None);
    assert_eq!(last_seen(&store, &[2; 32]), None, "other accounts' expired sessions go too");
    assert_eq!(last_seen(&store, &[3; 32]), Some(0));
}
