//! Two build steps:
//! - [`stamp_version`] stamps the binary with what `edgebeam version` prints: the version (the
//!   release script's `EB_RELEASE_VERSION`, else Cargo.toml's), the git commit (`-dirty` when
//!   tracked files differ from it), the target triple and the build date (`SOURCE_DATE_EPOCH`
//!   when set, so a release build is reproducible). Without git, or outside a checkout, the
//!   commit is "unknown". No name here starts with `EDGEBEAM_`: cargo also sets these variables
//!   for test processes, whose children (`serve`) refuse any unknown `EDGEBEAM_*` variable.
//! - [`gzip_admin_ui`] gzips the admin UI's files (`web/admin/`) into `OUT_DIR` once, at level 9,
//!   so that the server answers `Accept-Encoding: gzip` with bytes it never compresses itself
//!   (`src/http/assets.rs` embeds both forms of each file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    stamp_version();
    gzip_admin_ui();
}

/// What `edgebeam version` prints.
fn stamp_version() {
    println!("cargo:rerun-if-env-changed=EB_RELEASE_VERSION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    // Edits to sources change `-dirty`; commits and checkouts move HEAD or the index.
    for path in ["src", "Cargo.toml", "Cargo.lock", "web"] {
        println!("cargo:rerun-if-changed={path}");
    }
    for path in git(&["rev-parse", "--git-path", "HEAD"])
        .into_iter()
        .chain(git(&["rev-parse", "--git-path", "index"]))
        .chain(git(&["rev-parse", "--symbolic-full-name", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])))
    {
        println!("cargo:rerun-if-changed={path}");
    }

    let version = std::env::var("EB_RELEASE_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "unknown".into()));
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash}-dirty")
            } else {
                hash
            }
        }
        None => "unknown".into(),
    };
    let secs =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        });
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=EB_BUILD_VERSION={version}");
    println!("cargo:rustc-env=EB_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=EB_BUILD_TARGET={target}");
    println!("cargo:rustc-env=EB_BUILD_DATE={}", iso_date(secs));
    println!("cargo:rustc-env=EB_BUILD_EPOCH={secs}");
}

/// A git command's trimmed output, or None when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// YYYY-MM-DD (UTC) of a Unix time, by Howard Hinnant's days-to-civil algorithm.
fn iso_date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn gzip_tree(from: &Path, to: &Path) {
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            gzip_tree(&path, &target);
            continue;
        }
        std::fs::create_dir_all(to).expect("OUT_DIR is writable");
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        // GzEncoder writes mtime 0 and no file name: the output depends on the content only.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).expect("gzip into memory");
        let mut name = target.into_os_string();
        name.push(".gz");
        std::fs::write(name, gz.finish().expect("gzip into memory")).expect("OUT_DIR is writable");
    }
}

/// The admin UI gzipped (see the module doc).
fn gzip_admin_ui() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    gzip_tree(Path::new("web/admin"), &out.join("admin"));
    println!("cargo:rerun-if-changed=web/admin");
    println!("cargo:rerun-if-changed=build.rs");
}
