//! Incidents from the command line: declare, list, show, and the verbs that change one.
//! Reads print tables or `--json`; changes go through the outbox-aware `write`.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;

use super::outbox::{flush_first, write};
use super::{connect, Connection};
use crate::client::Client;
use crate::model::incident::format_duration;
use crate::model::{IncidentId, Intent, Milestone, Role, Severity, Status};
use crate::present::{age, escape_control, json_safe, one_line};
use crate::protocol::Command;
use crate::protocol::IncidentSummary;

#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// Declare an incident. If unsure of the severity, pick the higher one.
    Declare {
        title: String,
        #[arg(long, short)]
        severity: Severity,
        #[arg(long, short)]
        impact: Option<String>,
        /// Mark it as a game-day drill.
        #[arg(long)]
        drill: bool,
        /// Only its members (you, whoever holds a role, people added with `member add`) and
        /// admins see it: for security incidents.
        #[arg(long)]
        private: bool,
        /// A service it is about (a probe's name), repeatable or comma-separated: probes' changes
        /// land on its timeline, and in a game day it is what detects a scenario.
        #[arg(long = "service", value_delimiter = ',')]
        services: Vec<String>,
    },
    /// List incidents: open first, worst first.
    List {
        /// Include closed incidents.
        #[arg(long, short)]
        all: bool,
    },
    /// Show one incident with roles, milestones, durations and timeline.
    Show { id: IncidentId },
    /// Add a note to the timeline.
    Note { id: IncidentId, text: String },
    /// Change status: declared, investigating, mitigating, mitigated, postmortem, closed.
    /// `investigating` on a closed incident reopens it (a commander or an admin, with --reason).
    Status {
        id: IncidentId,
        status: Status,
        /// Needed to reopen; to close early, a closure reason first: resolved, duplicate,
        /// false_positive, cancelled (`duplicate: of INC-3`).
        #[arg(long, short)]
        reason: Option<String>,
    },
    /// Change severity.
    Severity { id: IncidentId, severity: Severity },
    /// Hand a response role to a person.
    Assign { id: IncidentId, role: Role, person: String },
    /// Record when a milestone happened (RFC 3339; default now).
    Milestone { id: IncidentId, milestone: Milestone, time: Option<DateTime<Utc>> },
    /// Who sees a private incident (its incident_commander or an admin only).
    #[command(subcommand)]
    Member(MemberCmd),
}

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// Let a person see the private incident, its past included.
    Add { id: IncidentId, person: String },
    /// Stop a person seeing it (unless they declared it or hold a role in it).
    Remove { id: IncidentId, person: String },
}

pub(super) async fn incident(conn: &Connection, json: bool, cmd: IncidentCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    // Reads too: what you queued offline is sent first, so the list and the show include it.
    flush_first(&client).await?;
    let intent = match cmd {
        IncidentCmd::List { all } => return list(&client, json, all).await,
        IncidentCmd::Show { id } => return show(&client, json, id).await,
        IncidentCmd::Declare { title, severity, impact, drill, private, services } => {
            Intent::DeclareIncident {
                title,
                severity,
                impact: impact.unwrap_or_default(),
                drill,
                services,
                private,
            }
        }
        IncidentCmd::Member(MemberCmd::Add { id, person }) => Intent::AddMember { incident: id, person },
        IncidentCmd::Member(MemberCmd::Remove { id, person }) => {
            Intent::RemoveMember { incident: id, person }
        }
        IncidentCmd::Note { id, text } => Intent::AddNote { incident: id, text },
        IncidentCmd::Status { id, status, reason } => Intent::SetStatus { incident: id, status, reason },
        IncidentCmd::Severity { id, severity } => Intent::SetSeverity { incident: id, severity },
        IncidentCmd::Assign { id, role, person } => Intent::AssignRole { incident: id, role, person },
        IncidentCmd::Milestone { id, milestone, time } => {
            Intent::SetMilestone { incident: id, milestone, time: time.unwrap_or_else(Utc::now) }
        }
    };
    write(&client, json, Command::new(intent)).await
}

#[derive(Serialize)]
struct IncidentRow<'a> {
    id: IncidentId,
    title: &'a str,
    severity: Severity,
    status: Status,
    drill: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    private: bool,
    commander: Option<&'a str>,
    declared_at: DateTime<Utc>,
    impact: &'a str,
}

impl<'a> From<&'a IncidentSummary> for IncidentRow<'a> {
    fn from(i: &'a IncidentSummary) -> Self {
        IncidentRow {
            id: i.id,
            title: &i.title,
            severity: i.severity,
            status: i.status,
            drill: i.drill,
            private: i.private,
            commander: i.commander.as_deref(),
            declared_at: i.declared_at,
            impact: &i.impact,
        }
    }
}

/// The server filters, orders and pages: the CLI fetches the rows it prints, not the year of
/// incidents behind them.
async fn list(client: &Client, json: bool, all: bool) -> color_eyre::Result<()> {
    let found = client.all_incidents(if all { "" } else { "status=open" }).await?;
    let rows: Vec<IncidentRow> = found.iter().map(IncidentRow::from).collect();
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(&rows)?));
        return Ok(());
    }
    if rows.is_empty() {
        out!("no {}incidents", if all { "" } else { "open " });
        return Ok(());
    }
    let now = Utc::now();
    out!("{:<8} {:<5} {:<14} {:>7}  {:<12} TITLE", "ID", "SEV", "STATUS", "AGE", "COMMANDER");
    for r in rows {
        out!(
            "{:<8} {:<5} {:<14} {:>7}  {:<12} {}{}{}",
            r.id.to_string(),
            r.severity.to_string(),
            r.status.as_str(),
            age(r.declared_at, now),
            one_line(r.commander.unwrap_or("-")),
            if r.drill { "[drill] " } else { "" },
            if r.private { "[private] " } else { "" },
            one_line(r.title)
        );
    }
    Ok(())
}

async fn show(client: &Client, json: bool, id: IncidentId) -> color_eyre::Result<()> {
    // The incident in full, however long ago it closed (clients hold closed ones as summaries).
    let full = client.incident(id).await?;
    let inc = &full.incident;
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(inc)?));
        return Ok(());
    }
    let now = Utc::now();
    out!(
        "{} {} {}{} — {}",
        inc.id,
        inc.severity,
        inc.status,
        inc.closure.map(|c| format!(" ({c})")).unwrap_or_default(),
        one_line(&inc.title)
    );
    if inc.drill {
        out!("DRILL");
    }
    if inc.private {
        let members: Vec<String> = inc.members.iter().map(|m| one_line(m)).collect();
        out!(
            "PRIVATE: seen by its declarer, its role holders, admins and members: {}",
            if members.is_empty() { "-".to_string() } else { members.join(", ") }
        );
    }
    if !inc.impact.is_empty() {
        out!("impact: {}", escape_control(&inc.impact));
    }
    out!("declared by {} {} ago", one_line(&inc.declared_by), age(inc.declared_at(), now));
    out!("\nroles:");
    for (role, person) in &inc.roles {
        out!("  {:<22} {}", role.as_str(), one_line(person));
    }
    out!("\nmilestones:");
    for (m, t) in &inc.milestones {
        out!("  {:<22} {}", m.as_str(), t.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    let d = inc.durations();
    let show_d = |d: Option<chrono::Duration>| d.map(format_duration).unwrap_or_else(|| "-".into());
    out!(
        "\ntime to detect {}  acknowledge {}  mitigate {}  recover {}",
        show_d(d.time_to_detect),
        show_d(d.time_to_acknowledge),
        show_d(d.time_to_mitigate),
        show_d(d.time_to_recover)
    );
    let now_clocks = crate::model::comms::clocks(inc);
    if !now_clocks.is_empty() {
        out!("\ncommunication clocks:");
        for c in &now_clocks {
            out!("  {}", crate::model::comms::describe(c, now));
        }
    }
    if let Some(list) = &inc.checklist {
        out!("\nplaybook {} — {} ({}/{} done):", list.playbook, list.title, list.done(), list.steps.len());
        for s in &list.steps {
            let mark = if s.ticked.is_some() { "[x]" } else { "[ ]" };
            let who = match (&s.ticked, &s.assignee) {
                (Some(t), _) => format!("  ✓ {} {}", one_line(&t.by), t.at.format("%H:%M")),
                (None, Some(a)) => format!("  → {}", one_line(a)),
                _ => String::new(),
            };
            out!("  {mark} {:<12} {:<18} {}{who}", s.step.section.as_str(), s.step.id, s.step.title);
        }
    }
    out!("\ntimeline:");
    for e in &inc.timeline {
        out!(
            "  {}  {:<10} {:<10} {}",
            e.at.format("%H:%M:%S"),
            one_line(&e.actor),
            e.kind.tag(),
            escape_control(&e.kind.summary()).replace('\n', "\n                                    ")
        );
    }
    Ok(())
}
