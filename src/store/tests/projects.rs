use super::*;
use crate::ids::Kid;
use crate::proto::token::keyset::generate_key_pair;

fn new_project(origins: &[&str], max_connections: Option<i64>) -> NewProject {
    NewProject {
        name: ProjectName::parse("shop").unwrap(),
        allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
        max_token_ttl_secs: 600,
        max_connections,
    }
}

fn add_generated_key(store: &mut Store, project: &ProjectId, n: u8) -> Kid {
    let (_, material) = generate_key_pair([n; 32]).unwrap();
    let kid = Kid::from_random([n; 8]);
    store.add_key(project, &kid, &material, None, KeyOrigin::Generated, Actor::CLI, UnixTime(2)).unwrap();
    kid
}

#[test]
fn a_project_reads_back_as_written_with_origins_and_null_max_connections() {
    let (_tmp, mut store) = open_temp();
    let id = ProjectId::from_random([1; 16]);
    let made = store
        .create_project_with(
            &id,
            &new_project(&["https://a.example", "http://b.example:8080"], None),
            Actor::CLI,
            UnixTime(5),
        )
        .unwrap();
    assert_eq!(store.project(&id).unwrap().as_ref(), Some(&made));
    assert_eq!(made.allowed_origins, ["https://a.example", "http://b.example:8080"]);
    assert_eq!((made.max_token_ttl_secs, made.max_connections), (600, None));
    assert_eq!(store.project(&ProjectId::from_random([2; 16])).unwrap(), None);

    let id2 = ProjectId::from_random([3; 16]);
    let capped = store.create_project_with(&id2, &new_project(&[], Some(50)), Actor::CLI, UnixTime(6)).unwrap();
    assert_eq!(store.list_projects().unwrap(), [made.clone(), capped]);
    let policies = store.load_project_policies().unwrap();
    assert_eq!(policies[&id], ProjectPolicy { allowed_origins: made.allowed_origins.clone(), max_connections: None });
    assert_eq!(policies[&id2], ProjectPolicy { allowed_origins: vec![], max_connections: Some(50) });

    let cli = make_project(&mut store, 4);
    let cli = store.project(&cli).unwrap().unwrap();
    assert_eq!((cli.allowed_origins.len(), cli.max_token_ttl_secs, cli.max_connections), (0, 86_400, None));
}

#[test]
fn a_patch_changes_only_the_fields_given_and_audits_what_changed() {
    let (_tmp, mut store) = open_temp();
    let id = ProjectId::from_random([1; 16]);
    let before = store
        .create_project_with(&id, &new_project(&["https://a.example"], Some(10)), Actor::CLI, UnixTime(1))
        .unwrap();
    let patch = ProjectPatch {
        name: Some(ProjectName::parse("shop").unwrap()), // same as before: not a change
        max_connections: Some(None),
        allowed_origins: Some(vec![]),
        ..ProjectPatch::default()
    };
    let after = store.update_project(&id, &patch, Actor::CLI, UnixTime(2)).unwrap();
    assert_eq!(after, Project { allowed_origins: vec![], max_connections: None, ..before.clone() });
    assert_eq!(store.project(&id).unwrap(), Some(after.clone()));
    let audit = store.recent_audit(1).unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].target.as_deref(), audit[0].detail.as_deref()),
        ("project.update", Some(id.as_str()), Some("allowed_origins,max_connections"))
    );
    let patch =
        ProjectPatch { max_token_ttl_secs: Some(60), max_connections: Some(Some(7)), ..ProjectPatch::default() };
    let after = store.update_project(&id, &patch, Actor::CLI, UnixTime(3)).unwrap();
    assert_eq!((after.max_token_ttl_secs, after.max_connections), (60, Some(7)));
    assert_eq!(store.load_keyset().unwrap().len(), 0);

    let missing = ProjectId::from_random([9; 16]);
    let e = store.update_project(&missing, &patch, Actor::CLI, UnixTime(4)).unwrap_err();
    assert!(matches!(e, StoreError::NoSuchProject(_)), "{e}");
}

#[test]
fn deleting_a_project_returns_its_kids_and_cascades() {
    let (_tmp, mut store) = open_temp();
    let id = make_project(&mut store, 1);
    let other = make_project(&mut store, 2);
    let mut kids = vec![add_generated_key(&mut store, &id, 1), add_generated_key(&mut store, &id, 2)];
    kids.sort();
    let kept = add_generated_key(&mut store, &other, 3);
    make_account(&mut store, "amy", Role::Viewer);
    store.set_member(&id, "amy", Role::Viewer, Actor::CLI, UnixTime(2)).unwrap();
    store.add_hourly_usage(0, &[(id.clone(), usage::HourUsage { signals: 1, ..Default::default() })]).unwrap();

    assert_eq!(store.delete_project(&id, Actor::CLI, UnixTime(3)).unwrap(), kids);
    assert_eq!(store.project(&id).unwrap(), None);
    let e = store.delete_project(&id, Actor::CLI, UnixTime(4)).unwrap_err();
    assert!(matches!(e, StoreError::NoSuchProject(_)), "{e}");
    let set = store.load_keyset().unwrap();
    assert_eq!((set.len(), set.get(kept.as_str()).is_some()), (1, true));
    let rows = |table: &str| -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table} WHERE project_id = ?1"), [id.as_str()], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((rows("keys"), rows("project_members"), rows("usage_hourly")), (0, 0, 0));
    let audit = store.recent_audit(1).unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].target.as_deref()), ("project.delete", Some(id.as_str())));
}

#[test]
fn keys_list_with_their_pem_and_are_deleted_only_through_their_own_project() {
    let (_tmp, mut store) = open_temp();
    let id = make_project(&mut store, 1);
    let other = make_project(&mut store, 2);
    let (_, material) = generate_key_pair([5; 32]).unwrap();
    let kid = Kid::from_random([5; 8]);
    store.add_key(&id, &kid, &material, None, KeyOrigin::Generated, Actor::CLI, UnixTime(2)).unwrap();
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "key.create");
    let listed = store.list_keys(&id).unwrap();
    assert_eq!(listed[0].public_key_pem, material.spki_pem());
    assert!(listed[0].public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));

    let e = store.delete_project_key(&other, &kid, Actor::CLI, UnixTime(3)).unwrap_err();
    assert!(matches!(e, StoreError::NoSuchKey(_)), "{e}");
    assert_eq!(store.list_keys(&id).unwrap().len(), 1);
    store.delete_project_key(&id, &kid, Actor::CLI, UnixTime(3)).unwrap();
    assert!(store.list_keys(&id).unwrap().is_empty());
    let audit = store.recent_audit(1).unwrap();
    assert_eq!((audit[0].action.as_str(), audit[0].detail.as_deref()), ("key.delete", Some(id.as_str())));
}
