//! Timeline entries: the human-readable history of one incident, one entry per fact.
//! `at` is when it was written; an entry about the past carries its own time (milestones).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::Event;
use super::incident::{Milestone, Role, Severity, Status};
use super::playbook::Audience;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The seq of the event that wrote it: a stable id and a total order.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    #[serde(flatten)]
    pub kind: EntryKind,
}

impl TimelineEntry {
    /// The entry an event writes: its seq, time and actor, and what it did.
    pub(super) fn of(event: &Event, kind: EntryKind) -> TimelineEntry {
        TimelineEntry { seq: event.seq, at: event.at, actor: event.actor.clone(), kind }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryKind {
    Declared {
        title: String,
        severity: Severity,
    },
    Note {
        text: String,
    },
    StatusChange {
        from: Status,
        to: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    SeverityChange {
        from: Severity,
        to: Severity,
    },
    RoleChange {
        role: Role,
        person: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    Milestone {
        milestone: Milestone,
        time: DateTime<Utc>,
    },
    Playbook {
        playbook: String,
        title: String,
    },
    Step {
        step: String,
        title: String,
        /// ticked, unticked, or assigned to someone
        action: String,
    },
    Message {
        channel: String,
        audience: Audience,
        text: String,
    },
    Delivery {
        channel: String,
        ok: bool,
        detail: String,
        /// Deliberately not delivered (a drill's status page update): neither a delivery
        /// nor a failure. A field, not a new kind, so older readers of a snapshot still
        /// read the entry (as a failed one, which is what they showed before).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        withheld: bool,
    },
    Snoozed {
        audience: Audience,
        until: DateTime<Utc>,
    },
    /// A linked service's probe changed.
    Health {
        probe: String,
        health: super::probe::Health,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed: Vec<String>,
    },
    /// Declared about a running chaos scenario's target: the run that caused it.
    CausedBy {
        run: super::chaos::RunId,
        scenario: String,
    },
    /// A revision of the postmortem was written.
    Postmortem {
        revision: u32,
    },
    /// An action item was added or completed.
    ActionItem {
        item: u32,
        title: String,
        /// added or completed
        action: String,
    },
    /// A fact this build cannot read (a newer server's kind, or a damaged body): shown, so
    /// nobody mistakes the timeline for complete, and otherwise skipped.
    Unreadable {
        /// The kind the fact was written with.
        #[serde(rename = "fact")]
        fact_kind: String,
    },
}

impl EntryKind {
    /// The short tag shown in the timeline's kind column and used for colours.
    pub fn tag(&self) -> &'static str {
        match self {
            EntryKind::Declared { .. } => "declared",
            EntryKind::Note { .. } => "note",
            EntryKind::StatusChange { .. } => "status",
            EntryKind::SeverityChange { .. } => "severity",
            EntryKind::RoleChange { .. } => "role",
            EntryKind::Milestone { .. } => "milestone",
            EntryKind::Playbook { .. } => "playbook",
            EntryKind::Step { .. } => "step",
            EntryKind::Message { .. } => "message",
            EntryKind::Delivery { withheld: true, .. } => "withheld",
            EntryKind::Delivery { ok: true, .. } => "delivered",
            EntryKind::Delivery { ok: false, .. } => "failed",
            EntryKind::Snoozed { .. } => "snoozed",
            EntryKind::Health { .. } => "health",
            EntryKind::CausedBy { .. } => "chaos",
            EntryKind::Postmortem { .. } => "review",
            EntryKind::ActionItem { .. } => "action",
            EntryKind::Unreadable { .. } => "unreadable",
        }
    }

    /// One line of plain text; may contain other users' text, so callers escape before drawing.
    pub fn summary(&self) -> String {
        match self {
            EntryKind::Declared { title, severity } => format!("declared {severity}: {title}"),
            EntryKind::Note { text } => text.clone(),
            EntryKind::StatusChange { from, to, reason } => match reason {
                Some(r) => format!("{from} → {to} ({r})"),
                None => format!("{from} → {to}"),
            },
            EntryKind::SeverityChange { from, to } => format!("{from} → {to}"),
            EntryKind::RoleChange { role, person, previous } => match previous {
                Some(p) => format!("{role}: {p} → {person}"),
                None => format!("{role}: {person}"),
            },
            EntryKind::Milestone { milestone, time } => {
                format!("{milestone} at {}", time.format("%Y-%m-%d %H:%M:%S UTC"))
            }
            EntryKind::Playbook { playbook, title } => format!("playbook {playbook}: {title}"),
            EntryKind::Step { step, title, action } => format!("{action} {step}: {title}"),
            EntryKind::Message { channel, text, .. } => format!("→ {channel}: {text}"),
            EntryKind::Delivery { channel, detail, .. } => format!("{channel}: {detail}"),
            EntryKind::Health { probe, health, failed } => {
                if failed.is_empty() {
                    format!("{probe} is {health}")
                } else {
                    format!("{probe} is {health}: {}", failed.join("; "))
                }
            }
            EntryKind::CausedBy { run, scenario } => format!("caused by chaos run {run} ({scenario})"),
            EntryKind::Postmortem { revision } => format!("postmortem revision {revision} written"),
            EntryKind::ActionItem { item, title, action } => format!("{action} action item #{item}: {title}"),
            EntryKind::Unreadable { fact_kind } => format!("unreadable entry: {fact_kind}"),
            EntryKind::Snoozed { audience, until } => {
                format!("{} update snoozed until {}", audience.label(), until.format("%H:%M UTC"))
            }
        }
    }
}
