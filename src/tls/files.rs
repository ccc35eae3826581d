//! `tls_mode = "files"`: the operator's pair is read again on SIGHUP and when either file
//! changes. The files are polled (every 500 ms: a stat of two files, cheaper than a watch and
//! the same on every filesystem); a change is acted on once the two stats have stayed the same
//! for one poll, so a pair half written by a deploy script is not read. A new pair that does not
//! load (bad PEM, a key of another certificate) is logged and refused; the old one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::TlsState;
use crate::shutdown::Signal;

pub const POLL: Duration = Duration::from_millis(500);

/// What a stat of both files says; equal stamps mean unchanged files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(Vec<Option<(SystemTime, u64, u64)>>);

impl Stamp {
    pub fn of(paths: &[&Path]) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp(
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), m.ino()))
                })
                .collect(),
        )
    }
}

/// The debounce, pure: fed one stamp per poll, it says when to read the pair again.
#[derive(Debug)]
pub struct Debounce {
    loaded: Stamp,
    last_seen: Stamp,
}

impl Debounce {
    pub fn new(loaded: Stamp) -> Debounce {
        Debounce { last_seen: loaded.clone(), loaded }
    }

    /// True when the files differ from the pair last read and have not moved since the last poll.
    pub fn handle_poll(&mut self, seen: Stamp) -> bool {
        let settled = seen == self.last_seen;
        self.last_seen = seen;
        if settled && self.last_seen != self.loaded {
            self.loaded = self.last_seen.clone();
            return true;
        }
        false
    }

    /// A reload happened for another reason (SIGHUP): what it read is the new reference.
    pub fn handle_reloaded(&mut self, seen: Stamp) {
        self.loaded = seen.clone();
        self.last_seen = seen;
    }
}

/// Reads the pair again when the files settle after a change or when `hups` delivers.
pub async fn watch(state: Arc<TlsState>, cert: PathBuf, key: PathBuf, hups: async_channel::Receiver<()>, stop: Signal) {
    let stamp = || Stamp::of(&[&cert, &key]);
    let mut debounce = Debounce::new(stamp());
    loop {
        let hup = futures_lite::future::or(
            async {
                let _ = hups.recv().await;
                true
            },
            async {
                smol::Timer::after(POLL).await;
                false
            },
        );
        let Some(hup) = stop.until(hup).await else { return };
        let reload = if hup {
            log::info!("SIGHUP: reading {} and {} again", cert.display(), key.display());
            debounce.handle_reloaded(stamp());
            true
        } else {
            debounce.handle_poll(stamp())
        };
        if reload {
            reload_pair(&state, &cert, &key);
        }
    }
}

fn reload_pair(state: &TlsState, cert: &Path, key: &Path) {
    match super::load_files(cert, key).and_then(|m| state.install(&m)) {
        Ok(info) => log::info!(
            "TLS: now serving {} (SHA-256 {}), valid until unix time {}",
            info.subject,
            info.sha256_fingerprint,
            info.not_after
        ),
        Err(e) => log::error!("TLS: refused the new certificate files, still serving the old pair: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(n: u64) -> Stamp {
        Stamp(vec![Some((SystemTime::UNIX_EPOCH, n, 1)), Some((SystemTime::UNIX_EPOCH, 1, 2))])
    }

    #[test]
    fn a_change_is_read_once_it_has_settled_for_one_poll() {
        let mut d = Debounce::new(stamp(1));
        assert!(!d.handle_poll(stamp(1)), "unchanged");
        assert!(!d.handle_poll(stamp(2)), "changed, not settled");
        assert!(!d.handle_poll(stamp(3)), "still being written");
        assert!(d.handle_poll(stamp(3)), "settled");
        assert!(!d.handle_poll(stamp(3)), "read once");
    }

    #[test]
    fn a_sighup_reload_becomes_the_reference() {
        let mut d = Debounce::new(stamp(1));
        d.handle_reloaded(stamp(5));
        assert!(!d.handle_poll(stamp(5)));
        assert!(!d.handle_poll(stamp(5)));
    }

    #[test]
    fn a_deleted_file_counts_as_a_change() {
        let mut d = Debounce::new(stamp(1));
        let gone = Stamp(vec![None, Some((SystemTime::UNIX_EPOCH, 1, 2))]);
        assert!(!d.handle_poll(gone.clone()));
        assert!(d.handle_poll(gone));
    }
}
