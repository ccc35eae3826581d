//! Static files from `web/`, embedded at build time: on the signal listener the browser SDK (CORS
//! open, so any app's origin can load it) and the demo page; on the admin listener the admin UI
//! (`web/admin/`, a single page: `/` and `/setup` are its HTML, everything else is under `/ui/`).
//!
//! Each file's ETag is a hash of its content computed at compile time, so a browser revalidates
//! (`Cache-Control: no-cache`) and gets a 304 without the body while the binary is the same.
//! Files are served as they are, uncompressed: gzip would need an encoder in the binary for a UI
//! that is about 45 KB gzip-compressed (docs/benchmarks.md).

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// FNV-1a of `body`, computed at compile time: the ETag.
    pub hash: u64,
    /// Loadable from any origin (`Access-Control-Allow-Origin: *`).
    pub cors: bool,
}

impl Asset {
    /// The strong ETag, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Asset({})", self.path)
    }
}

impl PartialEq for Asset {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for Asset {}

/// 64-bit FNV-1a: not a cryptographic hash, only a cache validator that changes with the content.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

macro_rules! asset {
    ($path:expr, $type:expr, $file:expr, $cors:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../../web/", $file)),
            hash: fnv1a(include_str!(concat!("../../web/", $file)).as_bytes()),
            cors: $cors,
        }
    };
}

/// The admin UI's JavaScript modules, `web/admin/js/NAME` at `/ui/js/NAME`.
macro_rules! admin_js {
    ($($name:literal),* $(,)?) => {
        [$(asset!(concat!("/ui/js/", $name), JS, concat!("admin/js/", $name), false)),*]
    };
}

pub const SIGNAL_ASSETS: &[Asset] = &[
    asset!("/sdk/edgebeam.js", JS, "sdk/edgebeam.js", true),
    asset!("/sdk/edgebeam.d.ts", "application/typescript; charset=utf-8", "sdk/edgebeam.d.ts", true),
    asset!("/demo", HTML, "demo/index.html", false),
    asset!("/demo/demo.js", JS, "demo/demo.js", false),
    asset!("/demo/demo.css", CSS, "demo/demo.css", false),
];

const ADMIN_PAGE: Asset = asset!("/", HTML, "admin/index.html", false);

pub const ADMIN_FILES: &[Asset] = &[
    asset!("/ui/admin.css", CSS, "admin/admin.css", false),
    asset!("/ui/icon.svg", "image/svg+xml", "admin/icon.svg", false),
    asset!("/ui/vendor/uPlot.iife.min.js", JS, "admin/vendor/uPlot.iife.min.js", false),
    asset!("/ui/vendor/uPlot.min.css", CSS, "admin/vendor/uPlot.min.css", false),
];

pub const ADMIN_JS: &[Asset] = &admin_js![
    "app.js",
    "api.js",
    "ui.js",
    "chart.js",
    "projectpick.js",
    "setup.js",
    "signin.js",
    "dashboard.js",
    "projects.js",
    "keys.js",
    "members.js",
    "peers.js",
    "usage.js",
    "audit.js",
    "tls.js",
    "turn.js",
    "tokens.js",
    "apikeys.js",
    "accounts.js",
];

/// A file of the signal listener.
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/demo/" { "/demo" } else { path };
    SIGNAL_ASSETS.iter().find(|a| a.path == path)
}

/// A file of the admin listener: the page for `/` and `/setup` (the client routes the rest with
/// `#/section`), else a file under `/ui/`.
pub fn find_admin(path: &str) -> Option<&'static Asset> {
    match path {
        "/" | "/setup" => Some(&ADMIN_PAGE),
        p => ADMIN_FILES.iter().chain(ADMIN_JS).find(|a| a.path == p),
    }
}

/// Whether an `If-None-Match` value names `etag` (or is `*`): the answer is then 304.
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_admin_page_answers_its_client_routes_and_files_live_under_ui() {
        assert_eq!(find_admin("/").map(|a| a.content_type), Some(HTML));
        assert_eq!(find_admin("/setup"), find_admin("/"));
        assert!(find_admin("/ui/js/app.js").is_some());
        assert!(find_admin("/ui/js/nope.js").is_none());
        assert!(find_admin("/sdk/edgebeam.js").is_none());
        assert!(find("/ui/js/app.js").is_none());
    }

    #[test]
    fn every_path_is_unique_and_every_etag_differs() {
        let all: Vec<&Asset> = SIGNAL_ASSETS.iter().chain(ADMIN_FILES).chain(ADMIN_JS).chain([&ADMIN_PAGE]).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.hash, b.hash, "{} and {}", a.path, b.path);
            }
        }
    }

    #[test]
    fn if_none_match_with_the_etag_or_a_star_is_not_modified() {
        let etag = "\"00000000000000ab\"";
        assert!(not_modified(Some(etag), etag));
        assert!(not_modified(Some("\"x\", \"00000000000000ab\""), etag));
        assert!(not_modified(Some("W/\"00000000000000ab\""), etag));
        assert!(not_modified(Some("*"), etag));
        assert!(!not_modified(Some("\"00000000000000ac\""), etag));
        assert!(!not_modified(None, etag));
    }
}
