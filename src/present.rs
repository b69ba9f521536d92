//! Presentation shared by the CLI and the console: escaping other people's text, ages, and
//! one-line summaries of events.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::model::incident::format_duration;
use crate::model::{Event, Fact};

/// Makes text from another user safe to draw: control characters (escape sequences, bells,
/// carriage returns) are shown as `\u{..}` instead of acting on the terminal.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Escapes and folds onto one line (for tables and single-line lists).
pub fn one_line(s: &str) -> String {
    escape_control(s).replace(['\n', '\t'], " ")
}

/// `4m12s ago` style age of `t` at `now`.
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format_duration((now - t).max(chrono::Duration::zero()))
}

/// A one-line, escaped description of an event, for `warroom events` and logs.
pub fn event_line(e: &Event) -> String {
    let what = match &e.fact {
        Fact::IncidentDeclared { incident, title, severity, drill, .. } => {
            format!(
                "{incident} declared {severity}{}: {}",
                if *drill { " (drill)" } else { "" },
                one_line(title)
            )
        }
        Fact::NoteAdded { incident, text } => format!("{incident} note: {}", one_line(text)),
        Fact::StatusChanged { incident, from, to, reason, .. } => match reason {
            Some(r) => format!("{incident} {from} → {to} ({})", one_line(r)),
            None => format!("{incident} {from} → {to}"),
        },
        Fact::SeverityChanged { incident, from, to } => format!("{incident} {from} → {to}"),
        Fact::RoleAssigned { incident, assigned_role, person, .. } => {
            format!("{incident} {assigned_role}: {}", one_line(person))
        }
        Fact::MilestoneSet { incident, milestone, time } => {
            format!("{incident} {milestone} at {}", time.format("%H:%M:%S"))
        }
        Fact::PlaybookAttached { incident, checklist } => {
            format!("{incident} playbook {}: {}", checklist.playbook, one_line(&checklist.title))
        }
        Fact::StepTicked { incident, step, .. } => format!("{incident} ticked {step}"),
        Fact::StepUnticked { incident, step } => format!("{incident} unticked {step}"),
        Fact::StepAssigned { incident, step, person } => format!("{incident} {step} → {}", one_line(person)),
        Fact::MessageQueued { incident, channel, text, .. } => {
            format!("{incident} → {channel}: {}", one_line(text))
        }
        Fact::MessageDelivered { incident, message, .. } => format!("{incident} delivered {message}"),
        Fact::MessageFailed { incident, message, error, last } => {
            let what = if *last { "gave up on" } else { "failed" };
            format!("{incident} {what} {message}: {}", one_line(error))
        }
        Fact::ClockSnoozed { incident, audience, until } => {
            format!("{incident} {} update snoozed until {}", audience.label(), until.format("%H:%M"))
        }
        Fact::ProbeChanged { probe, from, to, failed } => {
            let why =
                if failed.is_empty() { String::new() } else { format!(": {}", one_line(&failed.join("; "))) };
            format!("{probe} {from} → {to}{why}")
        }
        Fact::ComponentSet { component, status } => match status {
            Some(s) => format!("status page: {component} set to {s}"),
            None => format!("status page: {component} follows its probe again"),
        },
        Fact::Redacted => "(redacted)".into(),
        Fact::Unknown(u) => match u.incident {
            Some(incident) => format!("{incident} unreadable entry: {}", one_line(&u.kind)),
            None => format!("unreadable entry: {}", one_line(&u.kind)),
        },
    };
    format!("{:>6}  {}  {:<10} {}", e.seq, e.at.format("%H:%M:%S"), one_line(&e.actor), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_other_users_cannot_reach_the_terminal() {
        assert_eq!(escape_control("plain text"), Cow::Borrowed("plain text"));
        assert_eq!(escape_control("\x1b[2Jboom\x07"), "\\u{1b}[2Jboom\\u{7}");
        assert_eq!(one_line("a\nb\rc"), "a b\\u{d}c");
    }
}
