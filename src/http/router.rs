//! Which listener serves what. Pure: a method and a path in, a [`Route`] out.

use hyper::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Admin,
    Signal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    /// Token introspection for app developers: who does this bearer token say I am?
    WhoAmI,
    /// CORS preflight of a cross-origin request.
    Preflight,
    /// The admin REST API (`/api/v1/…`), routed further by `api::routes`.
    Api,
    /// The signaling WebSocket.
    SignalUpgrade,
    /// An embedded static file.
    Asset(&'static super::assets::Asset),
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
}

pub fn route(listener: Listener, method: &Method, path: &str) -> Route {
    let read_only = |route| {
        if method == Method::GET || method == Method::HEAD {
            route
        } else {
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        }
    };
    match (listener, path) {
        (_, "/healthz") => read_only(Route::Health),
        (Listener::Admin, "/metrics") => read_only(Route::Metrics),
        (Listener::Admin, p) if p == super::api::PREFIX || p.starts_with("/api/v1/") => Route::Api,
        (Listener::Signal, "/v1/whoami") if method == Method::OPTIONS => Route::Preflight,
        (Listener::Signal, "/v1/whoami") => read_only(Route::WhoAmI),
        (Listener::Signal, "/v1/signal") => Route::SignalUpgrade,
        (Listener::Signal, p) => match super::assets::find(p) {
            Some(asset) => read_only(Route::Asset(asset)),
            None => Route::NotFound,
        },
        (Listener::Admin, p) => match super::assets::find_admin(p) {
            Some(asset) => read_only(Route::Asset(asset)),
            None => Route::NotFound,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_on_both_metrics_on_admin_only() {
        assert_eq!(route(Listener::Admin, &Method::GET, "/healthz"), Route::Health);
        assert_eq!(route(Listener::Signal, &Method::GET, "/healthz"), Route::Health);
        assert_eq!(route(Listener::Admin, &Method::HEAD, "/metrics"), Route::Metrics);
        assert_eq!(route(Listener::Signal, &Method::GET, "/metrics"), Route::NotFound);
        assert_eq!(route(Listener::Admin, &Method::GET, "/healthz/"), Route::NotFound);
        assert_eq!(route(Listener::Admin, &Method::GET, "/nope"), Route::NotFound);
        assert!(matches!(route(Listener::Admin, &Method::POST, "/healthz"), Route::MethodNotAllowed { .. }));
        assert_eq!(route(Listener::Signal, &Method::GET, "/v1/whoami"), Route::WhoAmI);
        assert_eq!(route(Listener::Signal, &Method::OPTIONS, "/v1/whoami"), Route::Preflight);
        assert_eq!(route(Listener::Admin, &Method::GET, "/v1/whoami"), Route::NotFound);
        assert!(matches!(route(Listener::Signal, &Method::GET, "/sdk/edgebeam.js"), Route::Asset(a) if a.cors));
        assert!(matches!(route(Listener::Signal, &Method::GET, "/demo"), Route::Asset(a) if !a.cors));
        assert!(matches!(route(Listener::Admin, &Method::GET, "/sdk/edgebeam.js"), Route::NotFound));
        assert_eq!(route(Listener::Admin, &Method::DELETE, "/api/v1/projects/x"), Route::Api);
        assert_eq!(route(Listener::Signal, &Method::GET, "/api/v1/me"), Route::NotFound);
    }

    #[test]
    fn the_admin_ui_is_on_the_admin_listener_only() {
        assert!(matches!(route(Listener::Admin, &Method::GET, "/"), Route::Asset(a) if a.path == "/"));
        assert!(matches!(route(Listener::Admin, &Method::GET, "/setup"), Route::Asset(a) if a.path == "/"));
        assert!(matches!(route(Listener::Admin, &Method::HEAD, "/ui/js/app.js"), Route::Asset(a) if !a.cors));
        assert!(matches!(route(Listener::Admin, &Method::POST, "/"), Route::MethodNotAllowed { .. }));
        assert_eq!(route(Listener::Signal, &Method::GET, "/"), Route::NotFound);
        assert_eq!(route(Listener::Signal, &Method::GET, "/ui/js/app.js"), Route::NotFound);
        assert_eq!(route(Listener::Admin, &Method::GET, "/ui/"), Route::NotFound);
    }
}
