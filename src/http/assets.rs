//! Static files from `web/`, embedded at build time and served by the signal listener: the
//! browser SDK (CORS open, so any app's origin can load it) and the demo page.

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// Loadable from any origin (`Access-Control-Allow-Origin: *`).
    pub cors: bool,
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

pub const SIGNAL_ASSETS: &[Asset] = &[
    Asset {
        path: "/sdk/edgebeam.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/sdk/edgebeam.js"),
        cors: true,
    },
    Asset {
        path: "/sdk/edgebeam.d.ts",
        content_type: "application/typescript; charset=utf-8",
        body: include_str!("../../web/sdk/edgebeam.d.ts"),
        cors: true,
    },
    Asset {
        path: "/demo",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/demo/index.html"),
        cors: false,
    },
    Asset {
        path: "/demo/demo.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/demo/demo.js"),
        cors: false,
    },
    Asset {
        path: "/demo/demo.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/demo/demo.css"),
        cors: false,
    },
];

pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/demo/" { "/demo" } else { path };
    SIGNAL_ASSETS.iter().find(|a| a.path == path)
}
