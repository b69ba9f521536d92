//! Intents: what a user asks for. [`super::State::decide`] turns one into facts or refuses it
//! with a reason, against the current state: the same rules on server and client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::incident::{IncidentId, Milestone, Role, Severity, Status};

pub const MAX_TITLE: usize = 200;
pub const MAX_TEXT: usize = 16 * 1024;
pub const MAX_NAME: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    DeclareIncident {
        title: String,
        severity: Severity,
        #[serde(default)]
        impact: String,
        #[serde(default)]
        drill: bool,
    },
    AddNote {
        incident: IncidentId,
        text: String,
    },
    SetStatus {
        incident: IncidentId,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    SetSeverity {
        incident: IncidentId,
        severity: Severity,
    },
    AssignRole {
        incident: IncidentId,
        role: Role,
        person: String,
    },
    /// Record when something happened, e.g. when the fault really started.
    SetMilestone {
        incident: IncidentId,
        milestone: Milestone,
        time: DateTime<Utc>,
    },
}

impl Intent {
    pub fn kind(&self) -> &'static str {
        match self {
            Intent::DeclareIncident { .. } => "declare_incident",
            Intent::AddNote { .. } => "add_note",
            Intent::SetStatus { .. } => "set_status",
            Intent::SetSeverity { .. } => "set_severity",
            Intent::AssignRole { .. } => "assign_role",
            Intent::SetMilestone { .. } => "set_milestone",
        }
    }

    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Intent::DeclareIncident { .. } => None,
            Intent::AddNote { incident, .. }
            | Intent::SetStatus { incident, .. }
            | Intent::SetSeverity { incident, .. }
            | Intent::AssignRole { incident, .. }
            | Intent::SetMilestone { incident, .. } => Some(*incident),
        }
    }
}

/// Why a command was refused. The server maps these to HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{0} does not exist")]
    UnknownIncident(IncidentId),
    /// The command no longer applies to the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// A field's value can never be accepted (422).
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

pub(crate) fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        return Err(Rejection::Invalid { field, detail: "must not be empty".into() });
    }
    let len = text.chars().count();
    if len > max {
        return Err(Rejection::Invalid {
            field,
            detail: format!("is {len} characters long, the limit is {max}"),
        });
    }
    Ok(())
}
