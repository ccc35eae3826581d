//! Versioned migrations. `user_version` counts applied migrations; a database from a newer
//! edgebeam (a higher `user_version`) is refused rather than guessed at.

use rusqlite_migration::{Migrations, M};

/// `PRAGMA application_id` of an edgebeam database: "EBM1".
pub const APPLICATION_ID: i32 = 0x4542_4D31;

const V1: &str = r#"
PRAGMA application_id = 1161973041;

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'user')),
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE projects (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    max_token_ttl_secs INTEGER NOT NULL DEFAULT 86400,
    allowed_origins    TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, account_id)
);

CREATE TABLE keys (
    kid             TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    public_key_spki BLOB NOT NULL,
    label           TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX keys_by_project ON keys(project_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_hash     BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

CREATE TABLE sessions (
    id_hash    BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX audit_by_time ON audit_log(at);

CREATE TABLE usage (
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    day             INTEGER NOT NULL,
    relayed_bytes   INTEGER NOT NULL DEFAULT 0,
    relayed_packets INTEGER NOT NULL DEFAULT 0,
    allocations     INTEGER NOT NULL DEFAULT 0,
    signal_messages INTEGER NOT NULL DEFAULT 0,
    connections     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day)
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
"#;

/// TURN usernames handed out by signaling (`EXPIRY:IDENTITY`, IDENTITY being
/// `PROJECT:GID:PID`), with the key of the token each was handed out for, so that deleting a key
/// (or kicking a peer) refuses them until their expiry, also after a restart. Rows outlive their
/// key on purpose (no foreign key): a row whose kid is no longer in `keys` is how a credential of
/// a deleted key is recognised. `turn_grant_kids` lists the kids `turn_grants` names, so that
/// finding the deleted ones at start reads a few rows, not the whole table.
const V2: &str = r#"
CREATE TABLE turn_grants (
    identity TEXT NOT NULL,
    expiry   INTEGER NOT NULL,
    kid      TEXT NOT NULL,
    kicked   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (identity, expiry, kid)
) WITHOUT ROWID;
CREATE INDEX turn_grants_by_kid ON turn_grants(kid, expiry);
CREATE INDEX turn_grants_by_expiry ON turn_grants(expiry);
CREATE INDEX turn_grants_kicked ON turn_grants(expiry) WHERE kicked = 1;
CREATE TABLE turn_grant_kids (kid TEXT PRIMARY KEY) WITHOUT ROWID;
"#;

/// The admin API (issue 11). `sessions`, `api_keys` and `project_members` were never written
/// before V3, so they are dropped and recreated; `accounts` is rebuilt to change its role CHECK
/// (V1 `admin` becomes `owner`, `user` becomes `viewer`).
const V3: &str = r#"
DROP TABLE sessions;
DROP TABLE api_keys;
DROP TABLE project_members;
CREATE TABLE accounts_v3 (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    created_at    INTEGER NOT NULL
);
INSERT INTO accounts_v3 (id, username, password_hash, role, created_at)
    SELECT id, username, password_hash, CASE role WHEN 'admin' THEN 'owner' ELSE 'viewer' END, created_at FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_v3 RENAME TO accounts;
CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, account_id)
);
CREATE INDEX members_by_account ON project_members(account_id);
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    key_hash     BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE TABLE sessions (
    id_hash      BLOB PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    source       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions(account_id);
ALTER TABLE projects ADD COLUMN max_connections INTEGER;
CREATE TABLE usage_hourly (
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    hour             INTEGER NOT NULL,
    peak_connections INTEGER NOT NULL DEFAULT 0,
    signals          INTEGER NOT NULL DEFAULT 0,
    turn_bytes       INTEGER NOT NULL DEFAULT 0,
    turn_allocations INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, hour)
) WITHOUT ROWID;
CREATE INDEX audit_by_actor ON audit_log(actor, id);
CREATE INDEX audit_by_action ON audit_log(action, id);
"#;

/// Webhooks (issue 16): endpoints, the durable delivery queue (one row per endpoint and event,
/// written before the first attempt; `seq` only grows, so a worker pages with `seq > last`),
/// and the recent attempts the API lists.
const V4: &str = r#"
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT,
    previous_until  INTEGER,
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT,
    dropped         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_by_project ON webhooks(project_id);
CREATE TABLE webhook_queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body       TEXT NOT NULL,
    queued_at  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL
);
CREATE INDEX webhook_queue_by_hook ON webhook_queue(webhook_id, seq);
CREATE TABLE webhook_attempts (
    id         INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    status     INTEGER,
    latency_ms INTEGER NOT NULL,
    error      TEXT
);
CREATE INDEX webhook_attempts_by_hook ON webhook_attempts(webhook_id, id);
"#;

/// Every migration, oldest first. A new schema is one more entry here, a bump of
/// [`latest_version`], and a fixture made with `tests/data/make-schema-fixture.sh`; before it
/// runs, `Store::open` backs the database up (`edgebeam.db.pre-vN.bak`).
pub fn steps() -> Vec<M<'static>> {
    vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4)]
}

pub fn migrations() -> Migrations<'static> {
    Migrations::new(steps())
}

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_and_counted() {
        migrations().validate().unwrap();
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, latest_version());
        assert_eq!(steps().len() as i64, latest_version(), "latest_version counts the steps");
        let id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(id, APPLICATION_ID);
    }

    #[test]
    fn a_v2_admin_becomes_a_v3_owner_and_a_user_a_viewer() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        migrations().to_version(&mut conn, 2).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (username, password_hash, role, created_at) VALUES ('ops', 'h1', 'admin', 5);
             INSERT INTO accounts (username, password_hash, role, created_at) VALUES ('bob', 'h2', 'user', 6);
             INSERT INTO projects (id, name, created_at) VALUES ('p1', 'app', 7);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let rows: Vec<(i64, String, String, String, i64)> = conn
            .prepare("SELECT id, username, password_hash, role, created_at FROM accounts ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [(1, "ops".into(), "h1".into(), "owner".into(), 5), (2, "bob".into(), "h2".into(), "viewer".into(), 6)]
        );
        let max: Option<i64> = conn.query_row("SELECT max_connections FROM projects", [], |r| r.get(0)).unwrap();
        assert_eq!(max, None);
        // The rebuilt tables reference the renamed accounts table.
        conn.execute("INSERT INTO project_members VALUES ('p1', 2, 'admin', 8)", []).unwrap();
        conn.execute("DELETE FROM accounts WHERE id = 2", []).unwrap();
        let members: i64 = conn.query_row("SELECT count(*) FROM project_members", [], |r| r.get(0)).unwrap();
        assert_eq!(members, 0);
        let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 0);
    }
}
