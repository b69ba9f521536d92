//! Health probes from the command line: every probe at a glance, or one with its
//! definition and recent samples.

use clap::Subcommand;
use color_eyre::eyre::eyre;

use super::{connect, Connection};
use crate::present::{json_safe, one_line};

#[derive(Subcommand, Debug)]
pub enum ProbeCmd {
    /// Every probe: state, last latency, last error.
    List,
    /// One probe: definition, state and recent samples.
    Show { name: String },
}

pub(super) async fn probe(conn: &Connection, json: bool, cmd: ProbeCmd) -> color_eyre::Result<()> {
    use crate::model::probe::Health;
    let client = connect(conn)?;
    super::outbox::flush_first(&client).await?;
    let snap = client.snapshot().await?;
    let health = |name: &str| snap.state.probes.get(name).map_or(Health::Unknown, |p| p.health);
    match cmd {
        ProbeCmd::List => {
            if json {
                let rows: Vec<_> = snap
                    .probes
                    .iter()
                    .map(|p| {
                        let last = p.samples.last();
                        serde_json::json!({
                            "name": p.name,
                            "state": health(&p.name),
                            "last_latency_ms": last.map(|s| s.response_ms),
                            "last_error": last.and_then(|s| s.failed.first()),
                        })
                    })
                    .collect();
                out!("{}", json_safe(serde_json::to_string_pretty(&rows)?));
                return Ok(());
            }
            if snap.probes.is_empty() {
                out!("no probes configured on this server");
            }
            for p in &snap.probes {
                let last = p.samples.last();
                let latency = last.map_or("–".into(), |s| format!("{}ms", s.response_ms));
                let error = last.and_then(|s| s.failed.first()).map(|e| one_line(e)).unwrap_or_default();
                out!("{:<16} {:<9} {:>7}  {error}", p.name, health(&p.name).as_str(), latency);
            }
        }
        ProbeCmd::Show { name } => {
            let p = snap
                .probes
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| eyre!("no probe `{name}` on this server"))?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(p)?));
                return Ok(());
            }
            let state = snap.state.probes.get(&name);
            out!("{} ({} {}, every {} ms): {}", p.name, p.kind, p.target, p.interval_ms, health(&name));
            if let Some(s) = state {
                out!("since {}", s.since.format("%Y-%m-%d %H:%M:%S UTC"));
                for f in &s.failed {
                    out!("  failed: {}", one_line(f));
                }
            }
            out!("conditions: {}", p.conditions.join(" · "));
            if !p.degraded.is_empty() {
                out!("degraded when only: {}", p.degraded.join(" · "));
            }
            out!("\nrecent samples:");
            for s in p.samples.iter().rev().take(10) {
                let why = s.failed.first().map(|f| format!("  {}", one_line(f))).unwrap_or_default();
                out!("  {}  {:<9} {:>6}ms{why}", s.at.format("%H:%M:%S"), s.health.as_str(), s.response_ms);
            }
        }
    }
    Ok(())
}
