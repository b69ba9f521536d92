//! Events: the facts the server has ordered. Never edited, never deleted; every view is a
//! fold of them with [`super::State::apply`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::UserRole;
use super::comms::Checklist;
use super::incident::{ClosureReason, IncidentId, Milestone, Role, Severity, Status};
use super::playbook::Audience;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Gap-free and strictly increasing, from 1.
    pub seq: u64,
    /// When the server ordered it (UTC).
    pub at: DateTime<Utc>,
    pub actor: String,
    pub role: UserRole,
    /// The idempotency key of the command that caused it.
    pub command_id: Uuid,
    #[serde(flatten)]
    pub fact: Fact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    IncidentDeclared {
        incident: IncidentId,
        title: String,
        severity: Severity,
        impact: String,
        drill: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        services: Vec<String>,
    },
    NoteAdded {
        incident: IncidentId,
        text: String,
    },
    StatusChanged {
        incident: IncidentId,
        from: Status,
        to: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closure: Option<ClosureReason>,
    },
    SeverityChanged {
        incident: IncidentId,
        from: Severity,
        to: Severity,
    },
    RoleAssigned {
        incident: IncidentId,
        /// Not `role`: that name belongs to the envelope (the actor's user role).
        assigned_role: Role,
        person: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    MilestoneSet {
        incident: IncidentId,
        milestone: Milestone,
        time: DateTime<Utc>,
    },
    PlaybookAttached {
        incident: IncidentId,
        checklist: Checklist,
    },
    StepTicked {
        incident: IncidentId,
        step: String,
        /// Who did the step, when not the actor (a delivered message ticks its sender's step).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    StepUnticked {
        incident: IncidentId,
        step: String,
    },
    StepAssigned {
        incident: IncidentId,
        step: String,
        person: String,
    },
    MessageQueued {
        incident: IncidentId,
        message: Uuid,
        channel: String,
        audience: Audience,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    MessageDelivered {
        incident: IncidentId,
        message: Uuid,
        #[serde(default)]
        detail: String,
    },
    MessageFailed {
        incident: IncidentId,
        message: Uuid,
        error: String,
        /// True when the server gave up retrying.
        last: bool,
    },
    ClockSnoozed {
        incident: IncidentId,
        audience: Audience,
        until: DateTime<Utc>,
    },
    ProbeChanged {
        probe: String,
        from: super::probe::Health,
        to: super::probe::Health,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed: Vec<String>,
    },
    ComponentSet {
        component: String,
        status: Option<super::incident::ComponentStatus>,
    },
    /// An event this reader may not see (game-day secrets): same seq, no body.
    Redacted,
}

impl Fact {
    pub fn kind(&self) -> &'static str {
        match self {
            Fact::IncidentDeclared { .. } => "incident_declared",
            Fact::NoteAdded { .. } => "note_added",
            Fact::StatusChanged { .. } => "status_changed",
            Fact::SeverityChanged { .. } => "severity_changed",
            Fact::RoleAssigned { .. } => "role_assigned",
            Fact::MilestoneSet { .. } => "milestone_set",
            Fact::PlaybookAttached { .. } => "playbook_attached",
            Fact::StepTicked { .. } => "step_ticked",
            Fact::StepUnticked { .. } => "step_unticked",
            Fact::StepAssigned { .. } => "step_assigned",
            Fact::MessageQueued { .. } => "message_queued",
            Fact::MessageDelivered { .. } => "message_delivered",
            Fact::MessageFailed { .. } => "message_failed",
            Fact::ClockSnoozed { .. } => "clock_snoozed",
            Fact::ProbeChanged { .. } => "probe_changed",
            Fact::ComponentSet { .. } => "component_set",
            Fact::Redacted => "redacted",
        }
    }

    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Fact::IncidentDeclared { incident, .. }
            | Fact::NoteAdded { incident, .. }
            | Fact::StatusChanged { incident, .. }
            | Fact::SeverityChanged { incident, .. }
            | Fact::RoleAssigned { incident, .. }
            | Fact::MilestoneSet { incident, .. }
            | Fact::PlaybookAttached { incident, .. }
            | Fact::StepTicked { incident, .. }
            | Fact::StepUnticked { incident, .. }
            | Fact::StepAssigned { incident, .. }
            | Fact::MessageQueued { incident, .. }
            | Fact::MessageDelivered { incident, .. }
            | Fact::MessageFailed { incident, .. }
            | Fact::ClockSnoozed { incident, .. } => Some(*incident),
            Fact::Redacted | Fact::ProbeChanged { .. } | Fact::ComponentSet { .. } => None,
        }
    }
}
