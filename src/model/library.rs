//! What the server knows from its own files that `decide` needs: the playbooks it can attach
//! and the channels it can send on (with the audience each reaches). Pure data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::comms::Checklist;
use super::incident::Severity;
use super::playbook::{Audience, Playbook};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Library {
    pub playbooks: Vec<Playbook>,
    /// Channel name → the audience it reaches.
    pub channels: BTreeMap<String, ChannelInfo>,
    /// Where the public status page lives, for message templates.
    #[serde(default)]
    pub status_page_url: String,
    /// Status page components from the server's configuration (its probes' names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// The names of the server's users (from its config), sorted: a person given a role or a
    /// step must be one of them. Empty means unknown (any name is taken).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// The chaos catalogue, as clients may see it (drivers' details stay on the server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<super::chaos::ScenarioInfo>,
    /// Game-day defaults (`[gameday]`): the weights new game days score with.
    #[serde(default, skip_serializing_if = "is_default")]
    pub gameday: super::gameday::Settings,
    /// Which incidents need a postmortem, and the failure classes (`[postmortem]`).
    #[serde(default, skip_serializing_if = "is_default_postmortem")]
    pub postmortem: super::postmortem::Settings,
}

fn is_default(s: &super::gameday::Settings) -> bool {
    *s == super::gameday::Settings::default()
}

fn is_default_postmortem(s: &super::postmortem::Settings) -> bool {
    *s == super::postmortem::Settings::default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub kind: String,
    pub audience: Audience,
    /// Marked in the config as a game-day channel: drills may reach it.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub drills: bool,
}

impl ChannelInfo {
    /// Whether a drill's message may go out here: a dry run, the status page (which never
    /// shows a drill) or a channel marked for game days. Anything else reaches real people.
    pub fn takes_drills(&self) -> bool {
        self.drills || self.kind == "dry-run" || self.kind == "statuspage"
    }
}

impl Library {
    pub fn scenario(&self, id: &str) -> Option<&super::chaos::ScenarioInfo> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    pub fn playbook(&self, id: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.id == id)
    }

    /// The checklist for a playbook, each step's audience resolved from its channel.
    pub fn checklist(&self, id: &str) -> Option<Checklist> {
        let mut list = Checklist::from_playbook(self.playbook(id)?);
        for s in &mut list.steps {
            s.step.audience = s.step.channel.as_ref().and_then(|c| self.channels.get(c)).map(|c| c.audience);
        }
        Some(list)
    }

    /// The playbook attached by default when an incident of this severity is declared:
    /// a drill prefers a drill playbook.
    pub fn default_for(&self, severity: Severity, drill: bool) -> Option<Checklist> {
        let fits = |p: &&Playbook| p.severities.contains(&severity);
        let pick = self
            .playbooks
            .iter()
            .filter(fits)
            .find(|p| p.drill == drill)
            .or_else(|| self.playbooks.iter().find(|p| fits(p) && !p.drill))?;
        self.checklist(&pick.id)
    }
}
