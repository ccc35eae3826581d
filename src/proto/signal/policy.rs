//! What a project's settings say about its signaling sessions: the web origins they may come
//! from and how many may be live at once. The store keeps them; the hub asks through
//! [`super::Directory`].

/// One project's signaling policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPolicy {
    /// Pages a session may come from (`https://host[:port]`); empty admits any origin.
    pub allowed_origins: Vec<String>,
    /// The project's own cap on live sessions; the server-wide `max_conns_per_project` still
    /// applies when it is lower. `None`: the server-wide cap alone. Lowering it below the
    /// sessions live now closes none of them; new ones are refused until they fall below it.
    pub max_connections: Option<usize>,
}

impl ProjectPolicy {
    /// Whether a page of `origin` may open a session (`None`: no Origin header, as from a
    /// native client, which an origin list cannot constrain).
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            Some(origin) if !self.allowed_origins.is_empty() => {
                self.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_admits_every_origin_and_a_list_only_its_own() {
        let open = ProjectPolicy::default();
        assert!(open.origin_allowed(Some("https://any.example")));
        let listed = ProjectPolicy { allowed_origins: vec!["https://App.example".into()], max_connections: None };
        assert!(listed.origin_allowed(Some("https://app.example")), "case-insensitive");
        assert!(!listed.origin_allowed(Some("https://evil.example")));
        assert!(listed.origin_allowed(None), "no Origin header: not a browser page");
    }
}
