//! Chaos from the command line: the server's catalogue and runs, starting and stopping them,
//! the emergency halt (straight to the server, never queued), arming, and a run's journal.

use std::path::PathBuf;

use chrono::Utc;
use clap::Subcommand;
use color_eyre::eyre::{eyre, WrapErr};
use serde_json::json;

use super::outbox::write;
use super::{connect, Connection};
use crate::client::Client;
use crate::model::chaos::{Run, RunId, ScenarioInfo};
use crate::model::incident::format_duration;
use crate::model::{Intent, State};
use crate::present::{json_safe, one_line};
use crate::protocol::Command;

#[derive(Subcommand, Debug)]
pub enum ChaosCmd {
    /// The scenario catalogue, the runs, and whether chaos is armed.
    List,
    /// One scenario (its blast radius and phases) or one run (its steps).
    Show {
        /// A scenario id, or a run (RUN-3).
        id: String,
    },
    /// Start a scenario from the server's catalogue (villains and admins).
    Start { scenario: String },
    /// Stop a run early: it is rolled back.
    Stop {
        run: RunId,
        #[arg(long, short)]
        reason: Option<String>,
    },
    /// Emergency stop: roll back every run at once and disarm until `arm`. Sent straight to
    /// the server (it works while the server's log is failing); never queued.
    Halt { reason: String },
    /// Allow scenarios to start again after a halt.
    Arm,
    /// A run as a Chaos Toolkit journal (JSON), whatever its driver.
    Journal {
        run: RunId,
        /// Write it to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

pub(super) async fn chaos(conn: &Connection, json: bool, cmd: ChaosCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let intent = match cmd {
        // No outbox flush first: a halt must not wait behind anything.
        ChaosCmd::Halt { reason } => return halt(&client, json, &reason).await,
        ChaosCmd::List => return list(&client, json).await,
        ChaosCmd::Show { id } => return show(&client, json, &id).await,
        ChaosCmd::Journal { run, out } => return journal(&client, run, out).await,
        ChaosCmd::Start { scenario } => Intent::StartScenario { scenario },
        ChaosCmd::Stop { run, reason } => Intent::StopScenario { run, reason },
        ChaosCmd::Arm => Intent::ArmChaos {},
    };
    let starting = matches!(intent, Intent::StartScenario { .. });
    write(&client, json, Command::new(intent)).await?;
    if starting && !json {
        // The dead-man rule ends a run nobody watches: say so before it surprises anyone.
        crate::stderr!(
            "warroom: the run is rolled back early if no villain or admin keeps a console or \
             `warroom events --follow` open ([chaos] dead_man, 2 minutes by default)"
        );
    }
    Ok(())
}

async fn halt(client: &Client, json: bool, reason: &str) -> color_eyre::Result<()> {
    let report = client.halt(reason).await.wrap_err("halt not done")?;
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(&report)?));
        return Ok(());
    }
    let runs: Vec<String> = report.runs.iter().map(RunId::to_string).collect();
    if runs.is_empty() {
        out!("halted: no run was active; chaos is disarmed until `warroom chaos arm`");
    } else {
        out!("halted {}; chaos is disarmed until `warroom chaos arm`", runs.join(", "));
    }
    for r in &report.rolled_back {
        out!("  rolled back: {}", one_line(r));
    }
    for f in &report.failed {
        out!("  ROLLBACK FAILED (the server retries it): {}", one_line(f));
    }
    match (report.recorded, &report.error) {
        (Some(seq), _) => out!("recorded in the log at seq {seq}"),
        (None, Some(e)) => out!("not in the log yet (the server keeps trying): {}", one_line(e)),
        (None, None) => out!("not in the log yet (the server keeps trying)"),
    }
    if !report.failed.is_empty() {
        return Err(eyre!("{} rollback(s) failed; the server keeps retrying them", report.failed.len()));
    }
    Ok(())
}

async fn state(client: &Client) -> color_eyre::Result<State> {
    super::outbox::flush_first(client).await?;
    super::snapshot(client).await
}

/// One line about a run: phase, progress, time left or verdict, why it stopped.
pub fn run_line(r: &Run, now: chrono::DateTime<Utc>) -> String {
    let mut line = format!(
        "{:<7} {:<18} {:<8} {}/{}",
        r.id.to_string(),
        one_line(&r.scenario.id),
        r.phase.as_str(),
        r.injected,
        r.scenario.phases.len()
    );
    if r.is_active() {
        let left = r.ends_at - now;
        if left > chrono::Duration::zero() {
            line.push_str(&format!("  {} left", format_duration(left)));
        }
    } else if let Some(v) = &r.verdict {
        line.push_str(if v.deviated { "  deviated" } else { "  held" });
    }
    if let Some(cause) = r.cause {
        line.push_str(&format!("  {cause}"));
        if let Some(reason) = &r.reason {
            line.push_str(&format!(": {}", one_line(reason)));
        }
    }
    line.push_str(&format!("  by {}", one_line(&r.started_by)));
    if !r.incidents.is_empty() {
        let ids: Vec<String> = r.incidents.iter().map(|i| i.to_string()).collect();
        line.push_str(&format!("  caused {}", ids.join(" ")));
    }
    if let Some(why) = &r.rollback_failed {
        line.push_str(&format!("  ROLLBACK FAILED: {}", one_line(why)));
    }
    line
}

async fn list(client: &Client, json: bool) -> color_eyre::Result<()> {
    let state = state(client).await?;
    let loaded = client.library().await?;
    let scenarios = &loaded.library.scenarios;
    if json {
        let runs: Vec<serde_json::Value> = state
            .chaos
            .runs
            .values()
            .map(|r| {
                json!({
                    "id": r.id, "scenario": r.scenario.id, "phase": r.phase, "started_by": r.started_by,
                    "started_at": r.started_at, "ends_at": r.ends_at, "ended_at": r.ended_at,
                    "injected": r.injected, "phases": r.scenario.phases.len(), "cause": r.cause,
                    "reason": r.reason, "verdict": r.verdict, "rollback_failed": r.rollback_failed,
                    "incidents": r.incidents,
                })
            })
            .collect();
        let all = json!({ "disarmed": state.chaos.disarmed, "scenarios": scenarios, "runs": runs });
        out!("{}", json_safe(serde_json::to_string_pretty(&all)?));
        return Ok(());
    }
    match &state.chaos.disarmed {
        Some(d) => out!(
            "chaos DISARMED by {} at {}: {}",
            one_line(&d.by),
            d.at.format("%Y-%m-%d %H:%M:%S UTC"),
            one_line(&d.reason)
        ),
        None => out!("chaos armed"),
    }
    out!("\nscenarios:");
    match state.gamedays.open().filter(|g| g.hides_chaos()) {
        // The server withholds the catalogue from heroes while a game day hides its chaos.
        Some(g) if scenarios.is_empty() => out!("  hidden from heroes until {}'s debrief", g.id),
        None if scenarios.is_empty() => out!("  none in the server's catalogue"),
        _ => {}
    }
    for s in scenarios {
        out!(
            "  {:<20} {:>6}  targets {:<28} {}",
            one_line(&s.id),
            format_duration(chrono::Duration::seconds(s.duration_secs as i64)),
            one_line(&s.target.join(", ")),
            one_line(&s.title)
        );
    }
    out!("\nruns:");
    if state.chaos.runs.is_empty() {
        out!("  none yet");
    }
    let now = Utc::now();
    for r in state.chaos.runs.values().rev() {
        out!("  {}", run_line(r, now));
    }
    Ok(())
}

fn print_scenario(s: &ScenarioInfo) {
    out!("{}: {}", one_line(&s.id), one_line(&s.title));
    if !s.hypothesis.is_empty() {
        out!("hypothesis:    {}", one_line(&s.hypothesis));
    }
    if !s.briefing.is_empty() {
        out!("briefing:      {}", one_line(&s.briefing));
    }
    out!("blast radius:  {}", one_line(&s.target.join(", ")));
    out!("duration:      {}", format_duration(chrono::Duration::seconds(s.duration_secs as i64)));
    if !s.steady_state.is_empty() {
        out!("steady state:  {} up", one_line(&s.steady_state.join(", ")));
    }
    out!("stops when:    {}", one_line(&s.stop_when));
    out!("phases:");
    for (i, p) in s.phases.iter().enumerate() {
        out!(
            "  {}. +{:<6} [{}] {}",
            i + 1,
            format!("{}s", p.at_secs),
            one_line(&p.driver),
            one_line(&p.title)
        );
    }
    if !s.rollback.is_empty() {
        out!("rollback:");
        for r in &s.rollback {
            out!("  {}", one_line(r));
        }
    }
}

async fn show(client: &Client, json: bool, id: &str) -> color_eyre::Result<()> {
    if let Ok(run) = id.parse::<RunId>() {
        if id.to_ascii_uppercase().starts_with("RUN-") {
            let state = state(client).await?;
            let r = state.chaos.runs.get(&run).ok_or_else(|| eyre!("no run {run} on this server"))?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(r)?));
                return Ok(());
            }
            out!("{}", run_line(r, Utc::now()));
            out!("started {} by {}", r.started_at.format("%Y-%m-%d %H:%M:%S UTC"), one_line(&r.started_by));
            if let Some(v) = &r.verdict {
                let probes: Vec<String> = v.probes.iter().map(|(p, h)| format!("{p} {h}")).collect();
                out!(
                    "hypothesis {}: {}",
                    if v.deviated { "deviated" } else { "held" },
                    one_line(&probes.join(", "))
                );
            }
            out!("\nsteps:");
            if r.steps.is_empty() {
                out!("  none recorded");
            }
            for s in &r.steps {
                out!(
                    "  {}  {:<12} {:<12} {:<6} {}",
                    s.at.format("%H:%M:%S"),
                    s.step.as_str(),
                    one_line(&s.driver),
                    if s.ok { "ok" } else { "FAILED" },
                    one_line(&s.output)
                );
            }
            out!("\nscenario:");
            print_scenario(&r.scenario);
            return Ok(());
        }
    }
    let loaded = client.library().await?;
    let s = loaded.library.scenario(id).ok_or_else(|| {
        let ids: Vec<&str> = loaded.library.scenarios.iter().map(|s| s.id.as_str()).collect();
        eyre!("no scenario `{id}` in the server's catalogue (have: {})", ids.join(", "))
    })?;
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(s)?));
        return Ok(());
    }
    print_scenario(s);
    Ok(())
}

async fn journal(client: &Client, run: RunId, out: Option<PathBuf>) -> color_eyre::Result<()> {
    let state = state(client).await?;
    let r = state.chaos.runs.get(&run).ok_or_else(|| eyre!("no run {run} on this server"))?;
    let text = serde_json::to_string_pretty(&crate::journal::journal(r))?;
    match out {
        Some(path) => {
            std::fs::write(&path, format!("{text}\n"))
                .wrap_err_with(|| format!("writing the journal of {run} to {}", path.display()))?;
            crate::stderr!("warroom: wrote the journal of {run} to {}", path.display());
        }
        None => out!("{}", json_safe(text)),
    }
    Ok(())
}
