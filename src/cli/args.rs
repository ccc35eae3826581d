//! The command line (argh). Only shapes here; [`super::run`] gives them meaning.

use argh::FromArgs;

#[derive(FromArgs, Debug)]
/// edgebeam: WebRTC signaling, a STUN/TURN relay and ES256 token auth in one binary.
pub struct Cli {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start; boxing buys nothing
pub enum Command {
    Serve(ServeArgs),
    Version(VersionArgs),
    Project(ProjectArgs),
    Admin(AdminArgs),
    Backup(BackupArgs),
    Key(KeyArgs),
    Token(TokenArgs),
    Turn(TurnArgs),
}

#[derive(FromArgs, Debug, Default)]
/// Run the server. Each knob can also come from the --config TOML file (same name with `_`)
/// or from EDGEBEAM_<NAME> in the environment; flags win over the environment, which wins over
/// the file. See docs/configuration.md.
#[argh(subcommand, name = "serve")]
pub struct ServeArgs {
    /// TOML configuration file
    #[argh(option)]
    pub config: Option<String>,
    /// data directory (database and tls/); default ./edgebeam-data, or $STATE_DIRECTORY under systemd
    #[argh(option)]
    pub data_dir: Option<String>,
    /// signaling WSS, SDK and demo listener, IP:PORT (default 0.0.0.0:8443)
    #[argh(option)]
    pub signal_listen: Option<String>,
    /// admin UI and REST API listener, IP:PORT (default 0.0.0.0:9443)
    #[argh(option)]
    pub admin_listen: Option<String>,
    /// STUN/TURN listener, UDP and TCP, IP:PORT (default 0.0.0.0:3478)
    #[argh(option)]
    pub turn_listen: Option<String>,
    /// TURN over TLS listener, IP:PORT (default 0.0.0.0:5349)
    #[argh(option)]
    pub turns_listen: Option<String>,
    /// UDP port range for relayed addresses, LO-HI (default 49152-65535)
    #[argh(option)]
    pub relay_ports: Option<String>,
    /// address put in ICE server URLs and XOR-RELAYED-ADDRESS
    #[argh(option)]
    pub public_ip: Option<String>,
    /// comma-separated host names of this box (certificate SANs, ICE URLs)
    #[argh(option)]
    pub public_names: Option<String>,
    /// PEM certificate chain file (with --tls-key; replaces the self-signed certificate)
    #[argh(option)]
    pub tls_cert: Option<String>,
    /// PEM private key file for --tls-cert
    #[argh(option)]
    pub tls_key: Option<String>,
    /// error, warn, info, debug or trace (default info)
    #[argh(option)]
    pub log_level: Option<String>,
    /// seconds to let in-flight requests finish on SIGTERM, 1-60 (default 3)
    #[argh(option)]
    pub shutdown_grace_secs: Option<String>,
    /// leeway in seconds on token exp, nbf and iat, 0-300 (default 30)
    #[argh(option)]
    pub token_leeway_secs: Option<String>,
    /// verified tokens kept in the cache, 0-1000000 (default 10000)
    #[argh(option)]
    pub token_cache_entries: Option<String>,
    /// threads for TLS handshakes and HTTP requests, 0-1024 (default 0: one per core)
    #[argh(option)]
    pub worker_threads: Option<String>,
    /// TLS handshakes a source may start per second on each HTTPS listener (default 20)
    #[argh(option)]
    pub tls_handshakes_per_source_per_sec: Option<String>,
    /// seconds a new signaling connection has to send auth (default 10)
    #[argh(option)]
    pub signal_auth_timeout_secs: Option<String>,
    /// largest signaling message in bytes (default 65536; larger closes 1009)
    #[argh(option)]
    pub signal_max_message_bytes: Option<String>,
    /// signaling messages per second per connection (default 50)
    #[argh(option)]
    pub signal_rate_per_sec: Option<String>,
    /// signaling burst per connection (default 100)
    #[argh(option)]
    pub signal_burst: Option<String>,
    /// errors or rate-limited messages tolerated per window before close 4008 (default 10)
    #[argh(option)]
    pub signal_abuse_limit: Option<String>,
    /// the abuse window in seconds (default 10)
    #[argh(option)]
    pub signal_abuse_window_secs: Option<String>,
    /// signaling sessions per project (default 10000)
    #[argh(option)]
    pub signal_max_conns_per_project: Option<String>,
    /// connections per source IP not yet authenticated (default 64)
    #[argh(option)]
    pub signal_max_unauthenticated_per_ip: Option<String>,
    /// bytes queued to a slow reader before close 4007 (default 1048576)
    #[argh(option)]
    pub signal_max_queued_bytes: Option<String>,
    /// seconds between server pings (default 30)
    #[argh(option)]
    pub signal_ping_interval_secs: Option<String>,
    /// seconds of silence after which a peer is dropped (default 60)
    #[argh(option)]
    pub signal_idle_timeout_secs: Option<String>,
    /// TURN realm, 1-127 printable ASCII characters without spaces or quotes (default edgebeam)
    #[argh(option)]
    pub turn_realm: Option<String>,
    /// comma-separated CIDRs the relay may reach even if denied by default, e.g. 127.0.0.0/8
    #[argh(option)]
    pub turn_allow_peers: Option<String>,
    /// comma-separated CIDRs the relay never reaches; wins over --turn-allow-peers
    #[argh(option)]
    pub turn_deny_peers: Option<String>,
    /// TURN allocations per peer (project, group, peer id), 1-1000 (default 64)
    #[argh(option)]
    pub turn_max_allocations_per_peer: Option<String>,
    /// TURN allocations per project, 1-1000000 (default 1000)
    #[argh(option)]
    pub turn_max_allocations_per_project: Option<String>,
    /// permissions per TURN allocation, 1-1000 (default 32)
    #[argh(option)]
    pub turn_max_permissions_per_allocation: Option<String>,
    /// channel bindings per TURN allocation, 1-4096 (default 32)
    #[argh(option)]
    pub turn_max_channels_per_allocation: Option<String>,
    /// relayed bytes per second per allocation, both directions summed, 1 s burst (default 2500000)
    #[argh(option)]
    pub turn_bandwidth_bytes_per_sec: Option<String>,
    /// failed TURN authentications per minute per source IP; past it, 401 unchecked (default 30)
    #[argh(option)]
    pub turn_auth_failures_per_minute: Option<String>,
    /// seconds the previous TURN secret stays valid after a rotation, 0-2592000 (default 86400)
    #[argh(option)]
    pub turn_secret_grace_secs: Option<String>,
    /// TURN allocation lifetime when the client asks for none, 60-3600 (default 600)
    #[argh(option)]
    pub turn_default_lifetime_secs: Option<String>,
    /// longest TURN allocation lifetime granted, 60-86400, >= the default (default 3600)
    #[argh(option)]
    pub turn_max_lifetime_secs: Option<String>,
}

impl ServeArgs {
    /// The flags that were given, as (config key, value).
    pub fn flag_values(&self) -> Vec<(&'static str, &str)> {
        let pairs: [(&'static str, &Option<String>); 39] = [
            ("data_dir", &self.data_dir),
            ("signal_listen", &self.signal_listen),
            ("admin_listen", &self.admin_listen),
            ("turn_listen", &self.turn_listen),
            ("turns_listen", &self.turns_listen),
            ("relay_ports", &self.relay_ports),
            ("public_ip", &self.public_ip),
            ("public_names", &self.public_names),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
            ("log_level", &self.log_level),
            ("shutdown_grace_secs", &self.shutdown_grace_secs),
            ("token_leeway_secs", &self.token_leeway_secs),
            ("token_cache_entries", &self.token_cache_entries),
            ("worker_threads", &self.worker_threads),
            ("tls_handshakes_per_source_per_sec", &self.tls_handshakes_per_source_per_sec),
            ("signal_auth_timeout_secs", &self.signal_auth_timeout_secs),
            ("signal_max_message_bytes", &self.signal_max_message_bytes),
            ("signal_rate_per_sec", &self.signal_rate_per_sec),
            ("signal_burst", &self.signal_burst),
            ("signal_abuse_limit", &self.signal_abuse_limit),
            ("signal_abuse_window_secs", &self.signal_abuse_window_secs),
            ("signal_max_conns_per_project", &self.signal_max_conns_per_project),
            ("signal_max_unauthenticated_per_ip", &self.signal_max_unauthenticated_per_ip),
            ("signal_max_queued_bytes", &self.signal_max_queued_bytes),
            ("signal_ping_interval_secs", &self.signal_ping_interval_secs),
            ("signal_idle_timeout_secs", &self.signal_idle_timeout_secs),
            ("turn_realm", &self.turn_realm),
            ("turn_allow_peers", &self.turn_allow_peers),
            ("turn_deny_peers", &self.turn_deny_peers),
            ("turn_max_allocations_per_peer", &self.turn_max_allocations_per_peer),
            ("turn_max_allocations_per_project", &self.turn_max_allocations_per_project),
            ("turn_max_permissions_per_allocation", &self.turn_max_permissions_per_allocation),
            ("turn_max_channels_per_allocation", &self.turn_max_channels_per_allocation),
            ("turn_bandwidth_bytes_per_sec", &self.turn_bandwidth_bytes_per_sec),
            ("turn_auth_failures_per_minute", &self.turn_auth_failures_per_minute),
            ("turn_secret_grace_secs", &self.turn_secret_grace_secs),
            ("turn_default_lifetime_secs", &self.turn_default_lifetime_secs),
            ("turn_max_lifetime_secs", &self.turn_max_lifetime_secs),
        ];
        pairs.into_iter().filter_map(|(k, v)| v.as_deref().map(|v| (k, v))).collect()
    }
}

#[derive(FromArgs, Debug)]
/// Print the version.
#[argh(subcommand, name = "version")]
pub struct VersionArgs {}

#[derive(FromArgs, Debug)]
/// Manage projects.
#[argh(subcommand, name = "project")]
pub struct ProjectArgs {
    #[argh(subcommand)]
    pub command: ProjectCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum ProjectCommand {
    Create(ProjectCreateArgs),
    List(ProjectListArgs),
}

#[derive(FromArgs, Debug)]
/// Create a project and print its id.
#[argh(subcommand, name = "create")]
pub struct ProjectCreateArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the project's display name
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
/// List projects: id, name and creation time, tab-separated.
#[argh(subcommand, name = "list")]
pub struct ProjectListArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// print a JSON array instead
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
/// Manage admin accounts.
#[argh(subcommand, name = "admin")]
pub struct AdminArgs {
    #[argh(subcommand)]
    pub command: AdminCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum AdminCommand {
    Create(AdminCreateArgs),
}

#[derive(FromArgs, Debug)]
/// Create an admin account; the password is read from standard input (one line).
#[argh(subcommand, name = "create")]
pub struct AdminCreateArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// account name: 1-64 characters of A-Z a-z 0-9 _ . @ -
    #[argh(option)]
    pub username: String,
}

#[derive(FromArgs, Debug)]
/// Write a consistent copy of the database, also while `serve` runs.
#[argh(subcommand, name = "backup")]
pub struct BackupArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the new backup file; an existing file is never overwritten
    #[argh(option)]
    pub out: String,
}

#[derive(FromArgs, Debug)]
/// Manage the TURN relay's shared secret.
#[argh(subcommand, name = "turn")]
pub struct TurnArgs {
    #[argh(subcommand)]
    pub command: TurnCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum TurnCommand {
    RotateSecret(RotateSecretArgs),
}

#[derive(FromArgs, Debug)]
/// Replace the TURN secret. Credentials made with the previous secret keep working for
/// turn_secret_grace_secs (default one day); a running server picks the change up within 2 s.
#[argh(subcommand, name = "rotate-secret")]
pub struct RotateSecretArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
}

#[derive(FromArgs, Debug)]
/// Manage the public keys that verify a project's tokens.
#[argh(subcommand, name = "key")]
pub struct KeyArgs {
    #[argh(subcommand)]
    pub command: KeyCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum KeyCommand {
    Create(KeyCreateArgs),
    Add(KeyAddArgs),
    List(KeyListArgs),
    Delete(KeyDeleteArgs),
}

#[derive(FromArgs, Debug)]
/// Make a P-256 key pair: the private key goes to --out (PKCS#8 PEM, mode 0600) and is not
/// kept; the public key is stored. Prints the kid.
#[argh(subcommand, name = "create")]
pub struct KeyCreateArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the project id
    #[argh(option)]
    pub project: String,
    /// new file for the private key; an existing file is never overwritten
    #[argh(option)]
    pub out: String,
}

#[derive(FromArgs, Debug)]
/// Register an existing public key (SPKI PEM or JWK). Prints the kid.
#[argh(subcommand, name = "add")]
pub struct KeyAddArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the project id
    #[argh(option)]
    pub project: String,
    /// file with the public key: SPKI PEM, or a JWK with kty EC and crv P-256
    #[argh(option)]
    pub public_key: String,
}

#[derive(FromArgs, Debug)]
/// List a project's keys: kid and creation time, tab-separated.
#[argh(subcommand, name = "list")]
pub struct KeyListArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the project id
    #[argh(option)]
    pub project: String,
    /// print a JSON array instead
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
/// Delete a key: its tokens stop working at once, its live sessions are closed.
#[argh(subcommand, name = "delete")]
pub struct KeyDeleteArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the kid to delete
    #[argh(positional)]
    pub kid: String,
}

#[derive(FromArgs, Debug)]
/// Mint and verify tokens.
#[argh(subcommand, name = "token")]
pub struct TokenArgs {
    #[argh(subcommand)]
    pub command: TokenCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum TokenCommand {
    Mint(TokenMintArgs),
    Verify(TokenVerifyArgs),
}

#[derive(FromArgs, Debug)]
/// Mint a token with a private key (what an app's backend does with any JWT library).
#[argh(subcommand, name = "mint")]
pub struct TokenMintArgs {
    /// the private key file (PKCS#8 or SEC1 PEM)
    #[argh(option)]
    pub key: String,
    /// the key's kid
    #[argh(option)]
    pub kid: String,
    /// group id (gid)
    #[argh(option)]
    pub group: String,
    /// peer id (pid)
    #[argh(option)]
    pub peer: String,
    /// allow policy GROUP_PATTERN:PEER_PATTERN (default: own group, any peer)
    #[argh(option)]
    pub allow: Option<String>,
    /// lifetime in seconds (default 3600)
    #[argh(option, default = "3600")]
    pub ttl: i64,
}

#[derive(FromArgs, Debug)]
/// Verify a token against this box's keys; prints its claims as JSON, or why it is invalid.
#[argh(subcommand, name = "verify")]
pub struct TokenVerifyArgs {
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// the token, or - to read it from standard input
    #[argh(positional)]
    pub token: String,
}
