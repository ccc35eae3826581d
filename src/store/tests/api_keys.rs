use super::*;

#[test]
fn a_key_is_found_by_hash_with_its_account_and_records_its_last_use() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    let row = store.create_api_key("ak_1", ops.id, "ci", Role::Admin, &[1; 32], Actor::CLI, UnixTime(10)).unwrap();
    assert_eq!(
        row,
        ApiKeyRow {
            id: "ak_1".into(),
            name: "ci".into(),
            role: Role::Admin,
            account: ops.username.clone(),
            created_at: UnixTime(10),
            last_used_at: None
        }
    );
    let audit = store.recent_audit(1).unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].target.as_deref(), audit[0].detail.as_deref()),
        ("api_key.create", Some("ak_1"), Some("ci"))
    );
    assert_eq!(store.list_api_keys(None).unwrap(), [row]);

    let (key, account) = store.api_key_by_hash(&[1; 32], UnixTime(20)).unwrap().unwrap();
    assert_eq!((key.last_used_at, account), (Some(UnixTime(20)), ops));
    assert_eq!(store.list_api_keys(None).unwrap()[0].last_used_at, Some(UnixTime(20)));
    assert!(store.api_key_by_hash(&[9; 32], UnixTime(20)).unwrap().is_none());
}

#[test]
fn owner_role_keys_are_refused() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    let e = store.create_api_key("ak_1", ops.id, "ci", Role::Owner, &[1; 32], Actor::CLI, UnixTime(1)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::RoleNotAllowed(Role::Owner))), "{e}");
    let e = store.create_api_key("ak_1", 999, "ci", Role::Admin, &[1; 32], Actor::CLI, UnixTime(1)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::NoSuchAccount(_))), "{e}");
}

#[test]
fn listing_and_deleting_can_be_scoped_to_one_account() {
    let (_tmp, mut store) = open_temp();
    let ops = make_account(&mut store, "ops", Role::Owner);
    let amy = make_account(&mut store, "amy", Role::Admin);
    store.create_api_key("ak_ops", ops.id, "a", Role::Admin, &[1; 32], Actor::CLI, UnixTime(1)).unwrap();
    store.create_api_key("ak_amy", amy.id, "b", Role::Viewer, &[2; 32], Actor::CLI, UnixTime(2)).unwrap();
    let ids = |rows: Vec<ApiKeyRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_api_keys(None).unwrap()), ["ak_ops", "ak_amy"]);
    assert_eq!(ids(store.list_api_keys(Some(amy.id)).unwrap()), ["ak_amy"]);

    assert!(!store.delete_api_key("ak_ops", Some(amy.id), Actor::CLI, UnixTime(3)).unwrap(), "not amy's");
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "api_key.create", "a refused delete is not audited");
    assert!(store.delete_api_key("ak_amy", Some(amy.id), Actor::CLI, UnixTime(3)).unwrap());
    assert!(store.delete_api_key("ak_ops", None, Actor::CLI, UnixTime(4)).unwrap());
    assert!(!store.delete_api_key("ak_ops", None, Actor::CLI, UnixTime(5)).unwrap());
    assert!(store.list_api_keys(None).unwrap().is_empty());
    assert!(store.api_key_by_hash(&[1; 32], UnixTime(6)).unwrap().is_none());
    let audit = store.recent_audit(1).unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].target.as_deref()), ("api_key.delete", Some("ak_ops")));
}
