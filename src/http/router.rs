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
    NotFound,
    MethodNotAllowed { allow: &'static str },
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
        _ => Route::NotFound,
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
    }
}
