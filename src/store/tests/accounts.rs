use super::*;

const TOKEN_HASH: [u8; 32] = [7; 32];

fn owner_name() -> Username {
    Username::parse("ops").unwrap()
}

#[test]
fn first_owner_needs_the_stored_setup_token_and_spends_it() {
    let (_tmp, mut store) = open_temp();
    let setup = Actor { name: "setup", source: "192.0.2.1" };
    let e = store.create_first_owner(&owner_name(), "h", &TOKEN_HASH, setup, UnixTime(1)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::SetupTokenInvalid)), "no token stored: {e}");
    store.put_secret(secrets::SETUP_TOKEN_HASH, &TOKEN_HASH, UnixTime(1)).unwrap();
    let e = store.create_first_owner(&owner_name(), "h", &[8; 32], setup, UnixTime(2)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::SetupTokenInvalid)), "wrong token: {e}");
    let e = store.create_first_owner(&owner_name(), "h", &TOKEN_HASH[..31], setup, UnixTime(2)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::SetupTokenInvalid)), "a prefix: {e}");
    assert_eq!(store.account_count().unwrap(), 0);

    let owner = store.create_first_owner(&owner_name(), "h", &TOKEN_HASH, setup, UnixTime(3)).unwrap();
    assert_eq!((owner.username.as_str(), owner.role, owner.created_at), ("ops", Role::Owner, UnixTime(3)));
    assert!(store.secret(secrets::SETUP_TOKEN_HASH).unwrap().is_none(), "the token is spent");
    let audit = store.recent_audit(1).unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str(), audit[0].detail.as_deref()),
        ("account.create", "setup", Some("role=owner"))
    );

    // With an account there, setup is done, whatever the token.
    store.put_secret(secrets::SETUP_TOKEN_HASH, &TOKEN_HASH, UnixTime(4)).unwrap();
    let other = Username::parse("eve").unwrap();
    let e = store.create_first_owner(&other, "h", &TOKEN_HASH, setup, UnixTime(5)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::SetupDone)), "{e}");
    assert_eq!(store.account_count().unwrap(), 1);
}

#[test]
fn a_spent_setup_token_is_refused_even_with_no_account_left() {
    let (_tmp, mut store) = open_temp();
    store.put_secret(secrets::SETUP_TOKEN_HASH, &TOKEN_HASH, UnixTime(1)).unwrap();
    make_account(&mut store, "temp", Role::Viewer); // any account spends the token
    store.delete_account("temp", Actor::CLI, UnixTime(2)).unwrap();
    assert_eq!(store.account_count().unwrap(), 0);
    let e = store.create_first_owner(&owner_name(), "h", &TOKEN_HASH, Actor::CLI, UnixTime(3)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::SetupTokenInvalid)), "{e}");
}

#[test]
fn accounts_are_looked_up_by_exact_name_and_by_id_and_listed_oldest_first() {
    let (_tmp, mut store) = open_temp();
    let u = Username::parse("zed").unwrap();
    let zed = store.create_account(&u, "hz", Role::Admin, Actor::CLI, UnixTime(5)).unwrap();
    let amy =
        store.create_account(&Username::parse("amy").unwrap(), "ha", Role::Viewer, Actor::CLI, UnixTime(9)).unwrap();
    assert_eq!(store.account("zed").unwrap(), Some((zed.clone(), "hz".to_owned())));
    assert_eq!(store.account("ZED").unwrap(), None);
    assert_eq!(store.account_by_id(amy.id).unwrap(), Some(amy.clone()));
    assert_eq!(store.account_by_id(999).unwrap(), None);
    assert_eq!(store.list_accounts().unwrap(), [zed, amy]);
    let e = store.create_account(&u, "h", Role::Owner, Actor::CLI, UnixTime(10)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::UsernameTaken(_))), "{e}");
    assert_eq!(store.recent_audit(1).unwrap()[0].detail.as_deref(), Some("role=viewer"));
}

#[test]
fn the_last_owner_cannot_be_deleted_and_deletion_cascades() {
    let (_tmp, mut store) = open_temp();
    make_account(&mut store, "o1", Role::Owner);
    let o2 = make_account(&mut store, "o2", Role::Owner);
    let admin = make_account(&mut store, "adm", Role::Admin);
    let project = make_project(&mut store, 1);
    store.set_member(&project, "adm", Role::Admin, Actor::CLI, UnixTime(2)).unwrap();
    store.create_session(&[1; 32], admin.id, "csrf", "192.0.2.1", UnixTime(2), 100).unwrap();
    store.create_api_key("ak_1", admin.id, "ci", Role::Viewer, &[2; 32], Actor::CLI, UnixTime(2)).unwrap();

    let e = store.delete_account("nobody", Actor::CLI, UnixTime(3)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::NoSuchAccount(_))), "{e}");
    store.delete_account("adm", Actor::CLI, UnixTime(3)).unwrap();
    assert!(store.session(&[1; 32], UnixTime(3), 100).unwrap().is_none());
    assert!(store.api_key_by_hash(&[2; 32], UnixTime(3)).unwrap().is_none());
    assert!(store.list_members(&project).unwrap().is_empty());
    assert!(store.memberships(admin.id).unwrap().is_empty());

    store.delete_account("o1", Actor::CLI, UnixTime(4)).unwrap();
    let e = store.delete_account("o2", Actor::CLI, UnixTime(5)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::LastOwner)), "{e}");
    assert_eq!(store.list_accounts().unwrap(), [o2]);
    let audit = store.recent_audit(1).unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].target.as_deref()), ("account.delete", Some("o1")));
}
