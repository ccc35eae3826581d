//! Log output that suits both a terminal and journald: under systemd (`JOURNAL_STREAM` set)
//! each line carries a syslog priority prefix (`<6>`) and no timestamp, since journald adds its
//! own; elsewhere a timestamp and the level name. Never colours.

use std::io::Write;

pub fn init(level: log::LevelFilter) {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    // Dependencies are chatty at debug; keep them one level quieter than ours.
    for noisy in ["rustls", "hyper", "async_io", "polling", "rusqlite_migration"] {
        builder.filter_module(noisy, level.min(log::LevelFilter::Info));
    }
    builder.format(move |buf, record| {
        if journald {
            let prio = match record.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            writeln!(buf, "<{prio}>{}: {}", record.target(), record.args())
        } else {
            writeln!(buf, "{} {:<5} {}: {}", buf.timestamp_seconds(), record.level(), record.target(), record.args())
        }
    });
    builder.write_style(env_logger::WriteStyle::Never);
    // A second init (tests) keeps the first logger.
    let _ = builder.try_init();
}
