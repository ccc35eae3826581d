//! `edgebeam token ...`

use std::io::Read;
use std::path::Path;

use super::args::TokenCommand;
use super::{data_dir, out, CliError};
use crate::ids::{GroupId, Kid, PeerId};
use crate::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
use crate::proto::token::pattern::{AllowPolicy, Pattern};
use crate::proto::token::verify::verify_token;
use crate::proto::token::{DEFAULT_LEEWAY_SECS, MAX_TOKEN_BYTES};
use crate::store::{OpenMode, Store};
use crate::unixtime::UnixTime;

pub fn run(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Mint(a) => {
            let kid = Kid::parse(&a.kid)?;
            let gid = GroupId::parse(&a.group)?;
            let pid = PeerId::parse(&a.peer)?;
            let policy = a.allow.as_deref().map(parse_allow).transpose()?;
            let pem = super::keys::read_small_file(Path::new(&a.key))?;
            let key = signing_key_from_pem(&pem)?;
            let req = MintRequest {
                kid: &kid,
                gid: &gid,
                pid: &pid,
                policy: policy.as_ref(),
                iat: UnixTime::now(),
                ttl_secs: a.ttl,
            };
            out(format_args!("{}", mint(&key, &req)?))
        }
        TokenCommand::Verify(a) => {
            let token = if a.token == "-" { read_stdin_token()? } else { a.token.clone() };
            let store = Store::open(&data_dir(a.data_dir)?, OpenMode::MustExist)?;
            let keys = store.load_keyset()?;
            let verified = verify_token(token.trim(), &keys, UnixTime::now(), DEFAULT_LEEWAY_SECS)
                .map_err(CliError::TokenInvalid)?;
            out(format_args!("{}", verified.payload))
        }
    }
}

/// `GROUP_PATTERN:PEER_PATTERN`; ids and patterns never contain ':'.
fn parse_allow(text: &str) -> Result<AllowPolicy, CliError> {
    let bad = |reason: String| CliError::BadAllow { value: text.to_owned(), reason };
    let (g, p) = text.split_once(':').ok_or_else(|| bad("expected GROUP_PATTERN:PEER_PATTERN".into()))?;
    let group_id = Pattern::parse(g).map_err(|e| bad(format!("group pattern: {e}")))?;
    let peer_id = Pattern::parse(p).map_err(|e| bad(format!("peer pattern: {e}")))?;
    Ok(AllowPolicy { group_id, peer_id })
}

fn read_stdin_token() -> Result<String, CliError> {
    let mut buf = String::new();
    std::io::stdin().take(MAX_TOKEN_BYTES as u64 + 2).read_to_string(&mut buf).map_err(CliError::Stdin)?;
    Ok(buf)
}
