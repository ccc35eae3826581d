//! Who is present: project -> group -> peers, so presence and `welcome.peers` look at the
//! groups a policy can match instead of every session.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ids::{GroupId, PeerId, ProjectId};
use crate::proto::token::Pattern;

#[derive(Debug, Default)]
pub struct PresenceIndex {
    projects: HashMap<ProjectId, BTreeMap<GroupId, BTreeSet<PeerId>>>,
}

impl PresenceIndex {
    pub fn insert(&mut self, project: &ProjectId, gid: &GroupId, pid: &PeerId) {
        self.projects.entry(project.clone()).or_default().entry(gid.clone()).or_default().insert(pid.clone());
    }

    pub fn remove(&mut self, project: &ProjectId, gid: &GroupId, pid: &PeerId) {
        if let Some(groups) = self.projects.get_mut(project) {
            if let Some(peers) = groups.get_mut(gid) {
                peers.remove(pid);
                if peers.is_empty() {
                    groups.remove(gid);
                }
            }
            if groups.is_empty() {
                self.projects.remove(project);
            }
        }
    }

    /// Every present peer of `project`, ordered by (gid, pid).
    pub fn of<'a>(&'a self, project: &ProjectId) -> impl Iterator<Item = (&'a GroupId, &'a PeerId)> + 'a {
        self.projects.get(project).into_iter().flatten().flat_map(|(gid, peers)| peers.iter().map(move |p| (gid, p)))
    }

    /// Present peers of `project` whose group matches `group` and whose id matches `peer`.
    pub fn matching<'a>(
        &'a self,
        project: &ProjectId,
        group: &'a Pattern,
        peer: &'a Pattern,
    ) -> impl Iterator<Item = (&'a GroupId, &'a PeerId)> + 'a {
        let groups = self.projects.get(project);
        let exact = (!group.as_str().contains('*')).then(|| group.as_str());
        groups
            .into_iter()
            .flat_map(move |groups| {
                let selected: Box<dyn Iterator<Item = (&GroupId, &BTreeSet<PeerId>)>> = match exact {
                    Some(g) => Box::new(groups.get_key_value(g).into_iter()),
                    None => Box::new(groups.iter().filter(move |(gid, _)| group.matches(gid.as_str()))),
                };
                selected
            })
            .flat_map(move |(gid, peers)| peers.iter().filter(move |p| peer.matches(p.as_str())).map(move |p| (gid, p)))
    }
}
