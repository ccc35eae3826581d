//! `edgebeam key ...`

use std::path::Path;

use super::args::KeyCommand;
use super::{data_dir, out, CliError};
use crate::fsutil;
use crate::ids::{Kid, ProjectId};
use crate::proto::token::keyset::{generate_key_pair, parse_public_key};
use crate::store::{Actor, KeyOrigin};
use crate::store::{OpenMode, Store};
use crate::unixtime::UnixTime;

/// Public key files are small; refuse to read a huge file by mistake.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

pub fn run(command: KeyCommand) -> Result<(), CliError> {
    match command {
        KeyCommand::Create(a) => {
            let project = ProjectId::parse(&a.project)?;
            let mut store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
            if !store.project_exists(&project)? {
                return Err(crate::store::StoreError::NoSuchProject(project.to_string()).into());
            }
            let (private_pem, public) = loop {
                if let Some(pair) = generate_key_pair(crate::random::bytes()) {
                    break pair;
                }
            };
            let kid = Kid::from_random(crate::random::bytes());
            // The private key file first: if it cannot be written, nothing is stored.
            let out_path = Path::new(&a.out);
            write_new_private(out_path, private_pem.as_bytes())?;
            if let Err(e) =
                store.add_key(&project, &kid, &public, None, KeyOrigin::Generated, Actor::CLI, UnixTime::now())
            {
                let _ = std::fs::remove_file(out_path);
                return Err(e.into());
            }
            out(format_args!("{kid}"))
        }
        KeyCommand::Add(a) => {
            let project = ProjectId::parse(&a.project)?;
            let text = read_small_file(Path::new(&a.public_key))?;
            let public = parse_public_key(&text)?;
            let mut store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
            let kid = Kid::from_random(crate::random::bytes());
            store.add_key(&project, &kid, &public, None, KeyOrigin::Registered, Actor::CLI, UnixTime::now())?;
            out(format_args!("{kid}"))
        }
        KeyCommand::List(a) => {
            let project = ProjectId::parse(&a.project)?;
            let store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
            let keys = store.list_keys(&project)?;
            if a.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| serde_json::json!({"kid": k.kid.as_str(), "project": k.project.as_str(), "created_at": k.created_at.secs()}))
                    .collect();
                return out(format_args!("{}", serde_json::Value::Array(list)));
            }
            for k in keys {
                out(format_args!("{}\t{}", k.kid, k.created_at.secs()))?;
            }
            Ok(())
        }
        KeyCommand::Delete(a) => {
            let kid = Kid::parse(&a.kid)?;
            let mut store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
            let project = store.delete_key(&kid, Actor::CLI, UnixTime::now())?;
            eprintln!("deleted {kid} of project {project}");
            Ok(())
        }
    }
}

fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut f = fsutil::create_new_private(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => CliError::OutputExists(path.to_owned()),
        _ => CliError::Output { path: path.to_owned(), source },
    })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|source| CliError::Output { path: path.to_owned(), source })
}

pub(super) fn read_small_file(path: &Path) -> Result<String, CliError> {
    let err = |source| CliError::Input { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(err)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(CliError::InputTooLarge { path: path.to_owned(), limit: MAX_KEY_FILE_BYTES });
    }
    let bytes = std::fs::read(path).map_err(err)?;
    String::from_utf8(bytes).map_err(|_| CliError::NotText(path.to_owned()))
}
