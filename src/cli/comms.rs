//! Playbooks, their steps on an incident, and messages from the command line: the verbs
//! that run an incident's checklist and its communication.

use std::path::PathBuf;

use chrono::Utc;
use clap::Subcommand;
use color_eyre::eyre::{bail, eyre};

use super::outbox::{flush_first, write};
use super::{connect, snapshot, Connection};
use crate::model::{IncidentId, Intent};
use crate::present::json_safe;
use crate::protocol::Command;

#[derive(Subcommand, Debug)]
pub enum PlaybookCmd {
    /// The server's playbooks (and any that failed to load).
    List,
    /// One playbook's steps.
    Show { id: String },
    /// Check playbook files; exits non-zero naming file, line and field of each problem.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Attach (or switch) an incident's playbook.
    Attach { incident: IncidentId, playbook: String },
}

#[derive(Subcommand, Debug)]
pub enum StepCmd {
    /// Mark a step done.
    Tick { incident: IncidentId, step: String },
    /// Undo a tick.
    Untick { incident: IncidentId, step: String },
    /// Give a step to someone.
    Assign { incident: IncidentId, step: String, person: String },
}

#[derive(Subcommand, Debug)]
pub enum CommsCmd {
    /// Send a message on a server channel: your text, or a step's template rendered now.
    Send {
        incident: IncidentId,
        channel: String,
        #[arg(long, conflicts_with = "step", required_unless_present = "step")]
        text: Option<String>,
        /// Use this step's message template (and tick the step once delivered).
        #[arg(long)]
        step: Option<String>,
        /// The public status this update states (investigating, identified, watching, fixed);
        /// default: the incident's status when sent. The status page shows the last one published.
        #[arg(long)]
        status: Option<crate::model::comms::PublicStatus>,
    },
    /// Push an audience's next update back (logged).
    Snooze { incident: IncidentId, audience: crate::model::Audience, minutes: u32 },
    /// Set a status page component by hand (operational, performance_issues, partial_outage,
    /// major_outage), or `auto` to follow its probe again.
    Component { component: String, status: String },
}

pub(super) async fn step(conn: &Connection, json: bool, cmd: StepCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let intent = match cmd {
        StepCmd::Tick { incident, step } => Intent::TickStep { incident, step },
        StepCmd::Untick { incident, step } => Intent::UntickStep { incident, step },
        StepCmd::Assign { incident, step, person } => Intent::AssignStep { incident, step, person },
    };
    write(&client, json, Command::new(intent)).await
}

pub(super) fn validate(files: &[PathBuf]) -> color_eyre::Result<()> {
    let mut bad = 0;
    for f in files {
        match crate::server::library::check_file(f) {
            Ok(pb) => out!("{}: ok ({}, {} steps)", f.display(), pb.id, pb.steps.len()),
            Err(e) => {
                bad += 1;
                crate::stderr!("{e}");
            }
        }
    }
    if bad > 0 {
        bail!("{bad} of {} playbook files have problems", files.len());
    }
    Ok(())
}

pub(super) async fn playbook(conn: &Connection, json: bool, cmd: PlaybookCmd) -> color_eyre::Result<()> {
    // Checking files needs no server (nor a token).
    if let PlaybookCmd::Validate { files } = &cmd {
        return validate(files);
    }
    let client = connect(conn)?;
    flush_first(&client).await?;
    match cmd {
        PlaybookCmd::Attach { incident, playbook } => {
            write(&client, json, Command::new(Intent::AttachPlaybook { incident, playbook })).await
        }
        PlaybookCmd::List => {
            let lib = client.library().await?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(&lib)?));
                return Ok(());
            }
            for pb in &lib.library.playbooks {
                let sevs: Vec<String> = pb.severities.iter().map(|s| s.to_string()).collect();
                let default = if sevs.is_empty() {
                    "attach by hand".to_string()
                } else {
                    format!("default for {}", sevs.join(" "))
                };
                let drill = if pb.drill { " (drills)" } else { "" };
                out!("{:<22} {:<36} {} steps, {default}{drill}", pb.id, pb.title, pb.steps.len());
            }
            out!("");
            for (name, c) in &lib.library.channels {
                out!("channel {name:<12} {:<11} → {}", c.kind, c.audience.label());
            }
            for e in &lib.errors {
                crate::stderr!("warroom: {e}");
            }
            Ok(())
        }
        PlaybookCmd::Show { id } => {
            let lib = client.library().await?;
            let pb = lib.library.playbook(&id).ok_or_else(|| eyre!("no playbook `{id}` on this server"))?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(pb)?));
                return Ok(());
            }
            out!("{} — {}", pb.id, pb.title);
            for s in &pb.steps {
                let owner = s.owner.map(|o| format!(" [{o}]")).unwrap_or_default();
                let channel = s.channel.as_ref().map(|c| format!(" → {c}")).unwrap_or_default();
                out!("  {:<12} {:<18} {}{owner}{channel}", s.section.as_str(), s.id, s.title);
            }
            Ok(())
        }
        PlaybookCmd::Validate { files } => validate(&files),
    }
}

pub(super) async fn comms(conn: &Connection, json: bool, cmd: CommsCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    // `--step` reads the incident first: what you queued offline is in what it reads.
    flush_first(&client).await?;
    let intent = match cmd {
        CommsCmd::Snooze { incident, audience, minutes } => {
            Intent::SnoozeClock { incident, audience, minutes }
        }
        CommsCmd::Component { component, status } => Intent::SetComponent {
            component,
            status: if status == "auto" { None } else { Some(status.parse().map_err(|e: String| eyre!(e))?) },
        },
        CommsCmd::Send { incident, channel, text, step, status } => {
            let text = match (text, &step) {
                (Some(t), _) => t,
                (None, Some(step_id)) => {
                    // Render the step's template now, with the server's status page URL.
                    let state = snapshot(&client).await?;
                    let lib = client.library().await?;
                    let inc = state.incident(incident).map_err(|e| eyre!("{e}"))?;
                    let list =
                        inc.checklist.as_ref().ok_or_else(|| eyre!("{incident} has no playbook attached"))?;
                    let s = list
                        .step(step_id)
                        .ok_or_else(|| eyre!("no step `{step_id}` in {}", list.playbook))?;
                    crate::model::comms::render_step(inc, &s.step, &lib.library.status_page_url, Utc::now())
                        .ok_or_else(|| eyre!("step `{step_id}` has no message template; pass --text"))?
                }
                (None, None) => bail!("give --text or --step"),
            };
            Intent::SendMessage { incident, channel, text, step, status }
        }
    };
    write(&client, json, Command::new(intent)).await
}
