//! Static files from `web/`, embedded at build time: on the signal listener the browser SDK (CORS
//! open, so any app's origin can load it) and the demo page; on the admin listener the admin UI
//! (`web/admin/`, a single page: `/` and `/setup` are its HTML, everything else is under `/ui/`).
//!
//! Each file's ETag is a hash of its content computed at compile time, so a browser revalidates
//! (`Cache-Control: no-cache`) and gets a 304 without the body while the binary is the same.
//! The admin UI's files are also embedded gzipped (by `build.rs`, at level 9) and sent so to a
//! client that accepts gzip: the UI's first load moves about a third of its bytes. The server
//! has no compressor; the SDK and demo go as they are.

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// FNV-1a of `body`, computed at compile time: the ETag.
    pub hash: u64,
    /// `body` gzipped at build time, if it is.
    pub gzip: Option<&'static [u8]>,
    /// Loadable from any origin (`Access-Control-Allow-Origin: *`).
    pub cors: bool,
}

impl Asset {
    /// The strong ETag, quoted; the gzipped form is another representation, so another tag.
    pub fn etag(&self, gzipped: bool) -> String {
        format!("\"{:016x}{}\"", self.hash, if gzipped { "-gz" } else { "" })
    }

    /// The gzipped body for a request with this `Accept-Encoding`, when that is smaller.
    pub fn gzip_for(&self, accept_encoding: Option<&str>) -> Option<&'static [u8]> {
        self.gzip.filter(|gz| gz.len() < self.body.len() && accepts_gzip(accept_encoding))
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
            gzip: None,
            cors: $cors,
        }
    };
}

/// A file of `web/admin/`, with its gzipped form from `build.rs`.
macro_rules! admin_asset {
    ($path:expr, $type:expr, $file:expr) => {
        Asset {
            gzip: Some(include_bytes!(concat!(env!("OUT_DIR"), "/admin/", $file, ".gz"))),
            ..asset!($path, $type, concat!("admin/", $file), false)
        }
    };
}

/// The admin UI's JavaScript modules, `web/admin/js/NAME` at `/ui/js/NAME`.
macro_rules! admin_js {
    ($($name:literal),* $(,)?) => {
        [$(admin_asset!(concat!("/ui/js/", $name), JS, concat!("js/", $name))),*]
    };
}

pub const SIGNAL_ASSETS: &[Asset] = &[
    asset!("/sdk/edgebeam.js", JS, "sdk/edgebeam.js", true),
    asset!("/sdk/edgebeam.d.ts", "application/typescript; charset=utf-8", "sdk/edgebeam.d.ts", true),
    asset!("/demo", HTML, "demo/index.html", false),
    asset!("/demo/demo.js", JS, "demo/demo.js", false),
    asset!("/demo/demo.css", CSS, "demo/demo.css", false),
];

const ADMIN_PAGE: Asset = admin_asset!("/", HTML, "index.html");

pub const ADMIN_FILES: &[Asset] = &[
    admin_asset!("/ui/admin.css", CSS, "admin.css"),
    admin_asset!("/ui/icon.svg", "image/svg+xml", "icon.svg"),
    admin_asset!("/ui/vendor/uPlot.iife.min.js", JS, "vendor/uPlot.iife.min.js"),
    admin_asset!("/ui/vendor/uPlot.min.css", CSS, "vendor/uPlot.min.css"),
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
    "webhooks.js",
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

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*`, not with `q=0`).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else { return false };
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
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
    fn gzip_is_accepted_unless_refused() {
        assert!(accepts_gzip(Some("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn the_admin_files_are_embedded_gzipped_and_smaller() {
        let app = find_admin("/ui/js/app.js").expect("app.js");
        let gz = app.gzip_for(Some("gzip")).expect("app.js is sent gzipped");
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert!(gz.len() < app.body.len());
        assert_eq!(app.gzip_for(Some("identity")), None);
        assert_ne!(app.etag(true), app.etag(false));
        assert_eq!(find("/sdk/edgebeam.js").and_then(|a| a.gzip), None);
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
