//! The raw layer: every source is read as-is into key -> string values, remembering where each
//! value came from so a validation error can name it. Later layers override earlier ones:
//! built-in defaults, then the TOML file, then `EDGEBEAM_*` variables, then flags.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::knobs::{self, KNOBS};
use super::ConfigError;

/// Where a raw value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
    SystemdStateDirectory,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File(p) => write!(f, "config file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::SystemdStateDirectory => f.write_str("environment variable STATE_DIRECTORY"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    One(String),
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub value: RawValue,
    pub origin: Origin,
}

/// Key -> the winning raw value.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    entries: BTreeMap<&'static str, Entry>,
}

impl RawConfig {
    /// The built-in defaults; under systemd `$STATE_DIRECTORY` replaces the default data dir.
    pub fn defaults(state_directory: Option<&str>) -> Self {
        let mut raw = RawConfig::default();
        for k in KNOBS {
            if let Some(d) = k.default {
                raw.set(k.key, RawValue::One(d.to_owned()), Origin::Default);
            }
        }
        if let Some(dir) = state_directory.filter(|d| !d.is_empty()) {
            // systemd may list several folders separated by ':'; the first is ours.
            let first = dir.split(':').next().unwrap_or(dir);
            raw.set("data_dir", RawValue::One(first.to_owned()), Origin::SystemdStateDirectory);
        }
        raw
    }

    fn set(&mut self, key: &'static str, value: RawValue, origin: Origin) {
        self.entries.insert(key, Entry { value, origin });
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Layers a TOML document over the current values.
    pub fn apply_toml(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        let origin = Origin::File(path.to_owned());
        for (key, value) in table {
            let knob = knobs::find(&key)
                .ok_or_else(|| ConfigError::UnknownKey { key: key.clone(), origin: origin.clone() })?;
            let bad = |reason: &str| ConfigError::BadValue {
                key: knob.key,
                value: format!("{value:?}"),
                origin: origin.clone(),
                reason: reason.to_owned(),
            };
            let raw = match (&value, knob.list) {
                (toml::Value::Array(items), true) => {
                    let mut list = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => list.push(s.clone()),
                            _ => return Err(bad("expected a list of strings")),
                        }
                    }
                    RawValue::List(list)
                }
                (_, true) => return Err(bad("expected a list of strings")),
                (toml::Value::String(s), false) => RawValue::One(s.clone()),
                (toml::Value::Integer(i), false) => RawValue::One(i.to_string()),
                (toml::Value::Boolean(b), false) => RawValue::One(b.to_string()),
                (_, false) => return Err(bad("expected a string, a number or a boolean")),
            };
            self.set(knob.key, raw, origin.clone());
        }
        Ok(())
    }

    /// Layers `EDGEBEAM_*` variables; any other `EDGEBEAM_` name is an error, so typos surface.
    pub fn apply_env<I>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("EDGEBEAM_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase();
            let origin = Origin::Env(name.clone());
            let knob = knobs::find(&key).ok_or(ConfigError::UnknownKey { key, origin: origin.clone() })?;
            self.set(knob.key, split_if_list(knob.list, &value), origin);
        }
        Ok(())
    }

    /// Layers flag values, given as (key, value) pairs.
    pub fn apply_flags<'a, I>(&mut self, flags: I)
    where
        I: IntoIterator<Item = (&'static str, &'a str)>,
    {
        for (key, value) in flags {
            if let Some(knob) = knobs::find(key) {
                let origin = Origin::Flag(format!("--{}", key.replace('_', "-")));
                self.set(knob.key, split_if_list(knob.list, value), origin);
            }
        }
    }
}

fn split_if_list(list: bool, value: &str) -> RawValue {
    if list {
        RawValue::List(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    } else {
        RawValue::One(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_and_remember_their_origin() {
        let mut raw = RawConfig::defaults(None);
        raw.apply_toml(Path::new("c.toml"), "admin_listen = \"127.0.0.1:1\"\nsignal_listen = \"127.0.0.1:2\"").unwrap();
        raw.apply_env([("EDGEBEAM_ADMIN_LISTEN".to_owned(), "127.0.0.1:3".to_owned())]).unwrap();
        raw.apply_flags([("signal_listen", "127.0.0.1:4")]);
        let admin = raw.entry("admin_listen").unwrap();
        assert_eq!(admin.value, RawValue::One("127.0.0.1:3".into()));
        assert_eq!(admin.origin, Origin::Env("EDGEBEAM_ADMIN_LISTEN".into()));
        let signal = raw.entry("signal_listen").unwrap();
        assert_eq!(signal.origin, Origin::Flag("--signal-listen".into()));
        assert_eq!(raw.entry("turn_listen").unwrap().origin, Origin::Default);
    }

    #[test]
    fn unknown_keys_are_errors_in_file_and_env() {
        let mut raw = RawConfig::defaults(None);
        let e = raw.apply_toml(Path::new("c.toml"), "admin_listn = \"x\"").unwrap_err();
        assert!(e.to_string().contains("admin_listn"), "{e}");
        let e = raw.apply_env([("EDGEBEAM_BOGUS".to_owned(), "1".to_owned())]).unwrap_err();
        assert!(e.to_string().contains("EDGEBEAM_BOGUS"), "{e}");
        // Other variables are ignored.
        raw.apply_env([("PATH".to_owned(), "/bin".to_owned())]).unwrap();
    }

    #[test]
    fn lists_come_from_arrays_and_commas() {
        let mut raw = RawConfig::defaults(None);
        raw.apply_toml(Path::new("c.toml"), "public_names = [\"a.lan\", \"b.lan\"]").unwrap();
        assert_eq!(raw.entry("public_names").unwrap().value, RawValue::List(vec!["a.lan".into(), "b.lan".into()]));
        raw.apply_flags([("public_names", "c.lan, d.lan")]);
        assert_eq!(raw.entry("public_names").unwrap().value, RawValue::List(vec!["c.lan".into(), "d.lan".into()]));
        assert!(raw.apply_toml(Path::new("c.toml"), "public_names = \"x\"").is_err());
        assert!(raw.apply_toml(Path::new("c.toml"), "admin_listen = [1]").is_err());
        assert!(raw.apply_toml(Path::new("c.toml"), "[section]\nx=1").is_err());
        assert!(raw.apply_toml(Path::new("c.toml"), "= broken").is_err());
    }

    #[test]
    fn systemd_state_directory_replaces_the_default_data_dir() {
        let raw = RawConfig::defaults(Some("/var/lib/edgebeam:/var/lib/other"));
        assert_eq!(raw.entry("data_dir").unwrap().value, RawValue::One("/var/lib/edgebeam".into()));
    }
}
