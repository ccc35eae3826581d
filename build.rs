//! Gzips the admin UI's files (`web/admin/`) into `OUT_DIR` once, at build time and at level 9,
//! so that the server answers `Accept-Encoding: gzip` with bytes it never compresses itself
//! (`src/http/assets.rs` embeds both forms of each file).

use std::io::Write;
use std::path::{Path, PathBuf};

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

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    gzip_tree(Path::new("web/admin"), &out.join("admin"));
    println!("cargo:rerun-if-changed=web/admin");
    println!("cargo:rerun-if-changed=build.rs");
}
