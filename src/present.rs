//! Presentation shared by the CLI, the console and the server's logs: escaping other people's
//! text, ages, one-line summaries of events, and errors with their causes on one line.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::model::incident::format_duration;
use crate::model::{Event, Fact};

/// Whether `c` must never reach a terminal as it is: C0 and C1 controls (escape sequences,
/// bells, carriage returns, the 8-bit CSI U+009B) and the bidi overrides and isolates that make
/// a terminal draw text in another order than it was written ("Trojan source").
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Makes text from another user safe to draw: control characters (escape sequences, bells,
/// carriage returns) are shown as `\u{..}` instead of acting on the terminal. The one escaping
/// function: the console, CLI tables, `events` and stderr all draw through it.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_unsafe(c) { c.escape_unicode().to_string() } else { c.to_string() })
            .collect(),
    )
}

/// JSON for a terminal: serde_json escapes C0 controls but leaves U+007F–U+009F and the bidi
/// controls raw; this writes them as `\uXXXX` too, which is the same JSON to any parser.
pub fn json_safe(json: String) -> String {
    if !json.chars().any(is_unsafe) {
        return json;
    }
    json.chars()
        .map(|c| if is_unsafe(c) && c != '\n' { format!("\\u{:04x}", c as u32) } else { c.to_string() })
        .collect()
}

/// Writes one line of human output to stdout through [`escape_control`]: the single gate
/// between other people's text and the reader's terminal. A reader that went away
/// (`warroom events | head`) ends the program quietly with status 0, not the shell's 141 of a
/// SIGPIPE death: stopping reading is the reader's choice, and `set -o pipefail` scripts must
/// not fail on `| head` (ripgrep does the same; `main.rs` covers other writers).
pub fn print_line(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", escape_control(line)) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        crate::stderr!("warroom: writing to stdout: {e}");
        std::process::exit(1);
    }
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
        Fact::IncidentDeclared { incident, title, severity, drill, private, .. } => {
            format!(
                "{incident} declared {severity}{}{}: {}",
                if *drill { " (drill)" } else { "" },
                if *private { " (private)" } else { "" },
                one_line(title)
            )
        }
        Fact::MemberAdded { incident, person } => format!("{incident} member added: {}", one_line(person)),
        Fact::MemberRemoved { incident, person } => {
            format!("{incident} member removed: {}", one_line(person))
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
            format!("{incident} {milestone} at {}", time.format("%Y-%m-%d %H:%M:%S UTC"))
        }
        Fact::PlaybookAttached { incident, checklist } => {
            format!("{incident} playbook {}: {}", checklist.playbook, one_line(&checklist.title))
        }
        Fact::StepTicked { incident, step, outside, .. } => match outside {
            Some(a) => format!("{incident} ticked {step}: {} told outside warroom", a.label()),
            None => format!("{incident} ticked {step}"),
        },
        Fact::StepUnticked { incident, step } => format!("{incident} unticked {step}"),
        Fact::StepAssigned { incident, step, person } => format!("{incident} {step} → {}", one_line(person)),
        Fact::MessageQueued { incident, channel, text, .. } => {
            format!("{incident} → {channel}: {}", one_line(text))
        }
        Fact::MessageDelivered { incident, message, .. } => format!("{incident} delivered {message}"),
        Fact::MessageWithheld { incident, message, reason } => {
            format!("{incident} withheld {message}: {}", one_line(reason))
        }
        Fact::MessageFailed { incident, message, error, last } => {
            let what = if *last { "gave up on" } else { "failed" };
            format!("{incident} {what} {message}: {}", one_line(error))
        }
        Fact::ClockSnoozed { incident, audience, until } => {
            format!("{incident} {} update snoozed until {}", audience.label(), until.format("%H:%M"))
        }
        Fact::PostmortemWritten { incident, revision, document } => format!(
            "{incident} postmortem revision {revision}{}",
            document.failure_class.as_deref().map(|c| format!(" ({})", one_line(c))).unwrap_or_default()
        ),
        Fact::ActionItemAdded { incident, item } => format!(
            "{incident}#{} action item for {}{}: {}",
            item.item,
            one_line(&item.owner),
            item.due.map(|d| format!(" due {d}")).unwrap_or_default(),
            one_line(&item.title)
        ),
        Fact::ActionItemCompleted { incident, item } => format!("{incident}#{item} action item completed"),
        Fact::ProbeChanged { probe, from, to, failed } => {
            let why =
                if failed.is_empty() { String::new() } else { format!(": {}", one_line(&failed.join("; "))) };
            format!("{probe} {from} → {to}{why}")
        }
        Fact::ComponentSet { component, status } => match status {
            Some(s) => format!("status page: {component} set to {s}"),
            None => format!("status page: {component} follows its probe again"),
        },
        Fact::ScenarioStarted { run, scenario, ends_at, gameday } => format!(
            "{run} started {}{}: {} (targets {}; rolled back by {})",
            scenario.id,
            gameday.map(|g| format!(" in {g}")).unwrap_or_default(),
            one_line(&scenario.title),
            scenario.target.join(", "),
            ends_at.format("%H:%M:%S")
        ),
        Fact::ScenarioStopping { run, cause, reason } => match reason {
            Some(r) => format!("{run} stopping ({cause}): {}", one_line(r)),
            None => format!("{run} stopping ({cause})"),
        },
        Fact::ChaosStep { run, step, phase, driver, ok, output } => format!(
            "{run} {step}{}{}{}: {}",
            // A rollback's number is its place among the scenario's rollback actions.
            phase
                .map(|p| match step {
                    crate::model::chaos::StepKind::Rollback => format!(" action {}", p + 1),
                    _ => format!(" phase {}", p + 1),
                })
                .unwrap_or_default(),
            if driver.is_empty() { String::new() } else { format!(" [{driver}]") },
            if *ok { "" } else { " FAILED" },
            one_line(output)
        ),
        Fact::ScenarioEnded { run, verdict } => match verdict {
            Some(v) if v.deviated => format!("{run} ended: hypothesis deviated"),
            Some(_) => format!("{run} ended: hypothesis held"),
            None => format!("{run} ended"),
        },
        Fact::ChaosHalted { reason, runs } => {
            let plural = if runs.len() == 1 { "" } else { "s" };
            format!("chaos HALTED ({} run{plural}), disarmed: {}", runs.len(), one_line(reason))
        }
        Fact::ChaosArmed {} => "chaos armed".into(),
        Fact::RunLinked { incident, run, scenario } => format!("{incident} caused by {run} ({scenario})"),
        Fact::GamedayCreated { gameday, name, style, .. } => {
            format!("{gameday} created ({style}): {}", one_line(name))
        }
        Fact::TeamAdded { gameday, team } => format!("{gameday} team added: {}", one_line(team)),
        Fact::TeamJoined { gameday, team, person } => {
            format!("{gameday} {} joined team {}", one_line(person), one_line(team))
        }
        Fact::ScenarioPlanned { gameday, plan } => format!(
            "{gameday} #{} planned: {} ({}; par {}m/{}m)",
            plan.n,
            plan.scenario,
            one_line(&plan.title),
            plan.par_detect_secs / 60,
            plan.par_mitigate_secs / 60
        ),
        Fact::GamedayStarted { gameday } => format!("{gameday} started"),
        Fact::ScenarioKickedOff { gameday, kickoff } => one_line(&kickoff.message(&gameday.to_string())),
        Fact::HintGiven { gameday, team, plan, text } => format!(
            "{gameday} hint for {}{}: {}",
            one_line(team),
            plan.map(|n| format!(" on #{n}")).unwrap_or_default(),
            one_line(text)
        ),
        Fact::MitigationConfirmed { gameday, team, plan } => {
            format!("{gameday} {}'s mitigation of #{plan} confirmed", one_line(team))
        }
        Fact::GamedayEnded { gameday } => format!("{gameday} ended: debrief, everything revealed"),
        Fact::GamedayFinished { gameday } => format!("{gameday} finished"),
        Fact::KickoffPosted { gameday, plan, ok, detail, last } => format!(
            "{gameday} kick-off of #{plan} {}: {}",
            match (ok, last) {
                (true, _) => "posted",
                (false, true) => "gave up",
                (false, false) => "failed",
            },
            one_line(detail)
        ),
        Fact::Redacted => "(redacted)".into(),
        Fact::Unknown(u) => match u.incident {
            Some(incident) => format!("{incident} unreadable entry: {}", one_line(&u.kind)),
            None => format!("unreadable entry: {}", one_line(&u.kind)),
        },
    };
    format!("{:>6}  {}  {:<10} {}", e.seq, e.at.format("%H:%M:%S"), one_line(&e.actor), what)
}

/// An error and its causes on one line: reqwest's own message hides "connection refused".
/// The client's errors and the server's notifier both report through it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_milestone_line_says_the_day_too() {
        let time = "2026-11-21T09:12:00Z".parse().unwrap();
        let e = Event {
            seq: 3,
            at: time,
            actor: "alice".into(),
            role: crate::model::UserRole::Commander,
            command_id: uuid::Uuid::nil(),
            fact: Fact::MilestoneSet {
                incident: crate::model::IncidentId(8),
                milestone: crate::model::Milestone::Started,
                time,
            },
        };
        assert!(event_line(&e).ends_with("INC-8 started at 2026-11-21 09:12:00 UTC"), "{}", event_line(&e));
    }

    #[test]
    fn escape_sequences_from_other_users_cannot_reach_the_terminal() {
        assert_eq!(escape_control("plain text"), Cow::Borrowed("plain text"));
        assert_eq!(escape_control("\x1b[2Jboom\x07"), "\\u{1b}[2Jboom\\u{7}");
        assert_eq!(one_line("a\nb\rc"), "a b\\u{d}c");
        assert_eq!(escape_control("\u{9b}2J \u{202e}gnp.exe"), "\\u{9b}2J \\u{202e}gnp.exe");
        assert_eq!(escape_control("مرحبا é 🔥"), Cow::Borrowed("مرحبا é 🔥"));
    }

    #[test]
    fn json_for_a_terminal_escapes_what_serde_leaves_raw_and_stays_the_same_json() {
        let value = serde_json::json!({ "t": "a\u{1b}[2J\u{9b}\u{7f}\u{202e}é\nb" });
        let text = json_safe(serde_json::to_string_pretty(&value).unwrap());
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn an_error_chain_names_every_cause_once() {
        let refused = Layer("Connection refused (os error 111)", None);
        let connect = Layer("client error (Connect)", Some(Box::new(refused)));
        let outer = Layer("error sending request: client error (Connect)", Some(Box::new(connect)));
        assert_eq!(
            error_chain(&outer),
            "error sending request: client error (Connect): Connection refused (os error 111)"
        );
    }
}
