//! The command line (argh). Only shapes here; [`super::run`] gives them meaning.

use argh::FromArgs;

pub use super::serve_args::ServeArgs;

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
    Config(ConfigArgs),
    Doctor(DoctorArgs),
}

#[derive(FromArgs, Debug)]
/// Print the version.
#[argh(subcommand, name = "version")]
pub struct VersionArgs {}

#[derive(FromArgs, Debug)]
/// Configuration helpers.
#[argh(subcommand, name = "config")]
pub struct ConfigArgs {
    #[argh(subcommand)]
    pub command: ConfigCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum ConfigCommand {
    Example(ConfigExampleArgs),
}

#[derive(FromArgs, Debug)]
/// Print a TOML file with every setting, its default and what it means, commented out.
#[argh(subcommand, name = "example")]
pub struct ConfigExampleArgs {
    /// print EDGEBEAM_* variables for the unit's environment file instead
    #[argh(switch)]
    pub env: bool,
}

#[derive(FromArgs, Debug)]
/// Check what an operator gets wrong: ports, data dir owner and modes, certificate, public_ip,
/// clock, open-file limit, first-run state. One line per check with the fix; exits 1 on a
/// fatal problem. Reads the configuration as `serve` does (--config, EDGEBEAM_*, flags).
#[argh(subcommand, name = "doctor")]
pub struct DoctorArgs {
    /// TOML configuration file, as given to `serve`
    #[argh(option)]
    pub config: Option<String>,
    /// data directory (default ./edgebeam-data, or $EDGEBEAM_DATA_DIR, or $STATE_DIRECTORY)
    #[argh(option)]
    pub data_dir: Option<String>,
    /// skip the bind test of the listeners (use while `serve` runs: its ports are taken)
    #[argh(switch)]
    pub running: bool,
}

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
/// Create an owner account (full control); the password is read from standard input (one line).
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
