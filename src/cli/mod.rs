//! Running one command. Each returns a [`CliError`] whose one-line message `main` prints.

pub mod args;
mod doctor;
mod keys;
mod serve_args;
mod token;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use args::{AdminCommand, Cli, Command, ProjectCommand};

use crate::config::{Config, ConfigError};
use crate::ids::{IdError, ProjectId, ProjectName, Username};
use crate::password::{self, PasswordError};
use crate::store::{Actor, OpenMode, Store, StoreError};
use crate::unixtime::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("cannot read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("no password on standard input")]
    NoPassword,
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error("{0} already exists; refusing to overwrite it")]
    OutputExists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Input { path: PathBuf, source: std::io::Error },
    #[error("{path} is larger than {limit} bytes")]
    InputTooLarge { path: PathBuf, limit: u64 },
    #[error("{0} is not a text file")]
    NotText(PathBuf),
    #[error(transparent)]
    Key(#[from] crate::proto::token::keyset::KeyError),
    #[error(transparent)]
    Mint(#[from] crate::proto::token::mint::MintError),
    #[error("--allow {value:?}: {reason}")]
    BadAllow { value: String, reason: String },
    #[error("token invalid: {0}")]
    TokenInvalid(crate::proto::token::TokenError),
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(args.config.as_deref().map(Path::new), args.flag_values())?;
            crate::logging::init(config.log_level);
            crate::app::serve(config)?;
            Ok(())
        }
        Command::Version(_) => out(format_args!("{}", crate::version_report())),
        Command::Project(p) => match p.command {
            ProjectCommand::Create(a) => {
                let name = ProjectName::parse(&a.name)?;
                let mut store = Store::open(&data_dir(a.data_dir)?, OpenMode::CreateIfMissing)?;
                let id = ProjectId::from_random(crate::random::bytes());
                store.create_project(&id, &name, Actor::CLI, UnixTime::now())?;
                out(format_args!("{id}"))
            }
            ProjectCommand::List(a) => {
                let store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
                let projects = store.list_projects()?;
                if a.json {
                    let list: Vec<_> = projects
                        .iter()
                        .map(|p| serde_json::json!({"id": p.id.as_str(), "name": p.name, "created_at": p.created_at.secs(), "max_token_ttl_secs": p.max_token_ttl_secs}))
                        .collect();
                    out(format_args!("{}", serde_json::Value::Array(list)))
                } else {
                    for p in projects {
                        out(format_args!("{}\t{}\t{}", p.id, p.name, p.created_at.secs()))?;
                    }
                    Ok(())
                }
            }
        },
        Command::Admin(a) => match a.command {
            AdminCommand::Create(a) => {
                let username = Username::parse(&a.username)?;
                let password = read_password()?;
                password::check_policy(&password)?;
                let hash = password::hash(&password, crate::random::bytes());
                let mut store = Store::open(&data_dir(a.data_dir)?, OpenMode::CreateIfMissing)?;
                store.create_account(&username, &hash, crate::store::Role::Owner, Actor::CLI, UnixTime::now())?;
                eprintln!("owner account {:?} created", username.as_str());
                Ok(())
            }
        },
        Command::Backup(a) => {
            let store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
            let out_path = PathBuf::from(&a.out);
            let pages = store.backup_to(&out_path)?;
            eprintln!("backup written to {} ({pages} pages)", out_path.display());
            Ok(())
        }
        Command::Key(k) => keys::run(k.command),
        Command::Config(c) => match c.command {
            args::ConfigCommand::Example(a) => {
                use crate::config::example;
                let text = if a.env { example::render_env() } else { example::render() };
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()).map_err(CliError::Stdout)
            }
        },
        Command::Doctor(a) => doctor::run(a),
        Command::Token(t) => token::run(t.command),
        Command::Turn(t) => match t.command {
            args::TurnCommand::RotateSecret(a) => {
                let mut store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
                let fresh = crate::random::token::<32>();
                store.rotate_turn_secret(fresh.as_bytes(), UnixTime::now(), Actor::CLI)?;
                eprintln!("TURN secret rotated; the previous one stays valid for turn_secret_grace_secs");
                Ok(())
            }
        },
    }
}

pub(crate) fn out(line: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|_| stdout.flush()).map_err(CliError::Stdout)
}

/// The data dir of a management command: the flag, else `EDGEBEAM_DATA_DIR`, else systemd's
/// `STATE_DIRECTORY`, else the default; the same order `serve` uses.
pub(crate) fn data_dir(flag: Option<String>) -> Result<PathBuf, CliError> {
    let mut raw = crate::config::RawConfig::defaults(std::env::var("STATE_DIRECTORY").ok().as_deref());
    if let Ok(v) = std::env::var("EDGEBEAM_DATA_DIR") {
        raw.apply_env([("EDGEBEAM_DATA_DIR".to_owned(), v)])?;
    }
    if let Some(f) = flag.as_deref() {
        raw.apply_flags([("data_dir", f)]);
    }
    match raw.entry("data_dir").map(|e| &e.value) {
        Some(crate::config::RawValue::One(s)) if !s.is_empty() => Ok(PathBuf::from(s)),
        _ => Ok(PathBuf::from("./edgebeam-data")),
    }
}

fn read_password() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for the new admin (shown as typed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    let n = stdin.lock().read_line(&mut line).map_err(CliError::Stdin)?;
    if n == 0 {
        return Err(CliError::NoPassword);
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_owned())
}
