use super::*;

#[test]
fn set_member_adds_then_changes_the_role_keeping_added_at() {
    let (_tmp, mut store) = open_temp();
    let project = make_project(&mut store, 1);
    let amy = make_account(&mut store, "amy", Role::Admin);
    let (m, created) = store.set_member(&project, "amy", Role::Viewer, Actor::CLI, UnixTime(5)).unwrap();
    assert!(created);
    assert_eq!(m, Member { username: amy.username.clone(), role: Role::Viewer, added_at: UnixTime(5) });
    let (m, created) = store.set_member(&project, "amy", Role::Admin, Actor::CLI, UnixTime(9)).unwrap();
    assert!(!created);
    assert_eq!((m.role, m.added_at), (Role::Admin, UnixTime(5)));
    assert_eq!(store.list_members(&project).unwrap(), [m]);
    assert_eq!(store.memberships(amy.id).unwrap(), [(project.clone(), Role::Admin)]);
    let audit = store.recent_audit(1).unwrap();
    let target = format!("{project}/amy");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].target.as_deref(), audit[0].detail.as_deref()),
        ("member.set", Some(target.as_str()), Some("admin"))
    );
}

#[test]
fn owners_unknown_accounts_and_unknown_projects_are_refused() {
    let (_tmp, mut store) = open_temp();
    let project = make_project(&mut store, 1);
    make_account(&mut store, "ops", Role::Owner);
    make_account(&mut store, "amy", Role::Viewer);
    let e = store.set_member(&project, "ops", Role::Admin, Actor::CLI, UnixTime(2)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::OwnerNotMember(_))), "{e}");
    let e = store.set_member(&project, "nobody", Role::Admin, Actor::CLI, UnixTime(2)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::NoSuchAccount(_))), "{e}");
    let e = store.set_member(&project, "amy", Role::Owner, Actor::CLI, UnixTime(2)).unwrap_err();
    assert!(matches!(e, StoreError::Account(AccountError::RoleNotAllowed(_))), "{e}");
    let missing = ProjectId::from_random([9; 16]);
    let e = store.set_member(&missing, "amy", Role::Admin, Actor::CLI, UnixTime(2)).unwrap_err();
    assert!(matches!(e, StoreError::NoSuchProject(_)), "{e}");
    assert!(matches!(store.list_members(&missing), Err(StoreError::NoSuchProject(_))));
    assert!(store.list_members(&project).unwrap().is_empty());
}

#[test]
fn memberships_span_projects_and_removal_ends_one() {
    let (_tmp, mut store) = open_temp();
    let p1 = make_project(&mut store, 1);
    let p2 = make_project(&mut store, 2);
    let amy = make_account(&mut store, "amy", Role::Admin);
    let bob = make_account(&mut store, "bob", Role::Admin);
    store.set_member(&p1, "amy", Role::Admin, Actor::CLI, UnixTime(2)).unwrap();
    store.set_member(&p2, "amy", Role::Viewer, Actor::CLI, UnixTime(3)).unwrap();
    store.set_member(&p1, "bob", Role::Viewer, Actor::CLI, UnixTime(4)).unwrap();
    let mut expected = vec![(p1.clone(), Role::Admin), (p2.clone(), Role::Viewer)];
    expected.sort();
    assert_eq!(store.memberships(amy.id).unwrap(), expected);
    let names: Vec<String> = store.list_members(&p1).unwrap().into_iter().map(|m| m.username.as_str().into()).collect();
    assert_eq!(names, ["amy", "bob"]);

    assert!(store.remove_member(&p1, "amy", Actor::CLI, UnixTime(5)).unwrap());
    assert!(!store.remove_member(&p1, "amy", Actor::CLI, UnixTime(6)).unwrap());
    assert!(!store.remove_member(&p1, "nobody", Actor::CLI, UnixTime(6)).unwrap());
    assert_eq!(store.memberships(amy.id).unwrap(), [(p2, Role::Viewer)]);
    assert_eq!(store.memberships(bob.id).unwrap(), [(p1.clone(), Role::Viewer)]);
    let audit = store.recent_audit(1).unwrap();
    let target = format!("{p1}/amy");
    assert_eq!((audit[0].action.as_str(), audit[0].target.as_deref()), ("member.remove", Some(target.as_str())));
}
