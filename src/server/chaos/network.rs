//! The `network` chaos driver: the server's TCP proxies (`[[chaos.proxy]]`), each a fault-engine
//! engine open for the server's life, and `fault` Run documents applied to them phase by phase.
//!
//! Each configured proxy is its own `RunningEngine` (pass-through until a run adds faults) with
//! one `PhaseSchedule` taken when it starts and kept for its life: the schedule holds the
//! engine's control lock, so nothing else can change its faults, and a run's phases are added
//! to it and started in order; the engine's own timers move from phase to phase. One engine per
//! proxy (rather than one for all) lets two runs fault two different proxies at once; a proxy
//! carries the faults of one run at a time. Stopping deletes the run's pending phases and stops
//! its running one, which the engine answers by clearing the proxy's faults (pass-through).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Weak};

use fault_engine::{
    EngineError, FaultEngine, PhaseSchedule, PhaseTransitionKind, PhaseTransitionReason, RunningEngine,
};
use fault_model::{DelayDistribution, FaultSpec, Phase, Proxy, ProxyFaults, Run, TransportProtocol};
use futures_util::future::BoxFuture;
use tokio::sync::{watch, Mutex};
use uuid::Uuid;

use super::driver::{DriverCx, Injected, Ongoing};
use crate::config::ProxyConfig;
use crate::model::chaos::RunId;

/// A Run document larger than this is not one a person wrote.
const MAX_RUN_FILE: u64 = 1024 * 1024;

/// The server's chaos proxies: built once from `ChaosConfig.proxies`, open until dropped.
pub struct Network {
    shared: Arc<Shared>,
}

struct Shared {
    proxies: BTreeMap<String, ProxyEngine>,
    /// One lock for every change of who holds which proxy, so an action, a stop and a phase
    /// that ends by itself never interleave.
    acts: Mutex<Acts>,
}

struct ProxyEngine {
    config: ProxyConfig,
    addr: SocketAddr,
    // Field order matters on drop: the schedule (and its control lock) goes before the engine.
    schedule: PhaseSchedule,
    engine: RunningEngine,
}

#[derive(Default)]
struct Acts {
    next: u64,
    /// Proxy name → the act whose faults it carries.
    held: BTreeMap<String, u64>,
    acts: BTreeMap<u64, Act>,
}

/// One `network` action with a Run document, from its start until its faults are removed.
struct Act {
    run: RunId,
    /// The document's `name`, for the timeline.
    name: String,
    /// Per proxy, the ids of this act's phases on that proxy's schedule, in order.
    phases: BTreeMap<String, Vec<Uuid>>,
    /// Proxies whose last phase is timed and has not ended yet.
    running: BTreeSet<String>,
    done: watch::Sender<Option<Result<String, String>>>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for p in self.shared.proxies.values() {
            list.entry(&format_args!("{} {} -> {}", p.config.name, p.addr, p.config.upstream));
        }
        list.finish()
    }
}

impl Network {
    /// Binds every proxy (listen → upstream, pass-through) and keeps them open until dropped.
    pub async fn start(proxies: &[ProxyConfig]) -> Result<Network, String> {
        let mut engines = BTreeMap::new();
        for cfg in proxies {
            let what =
                format!("chaos proxy `{}` (listen {}, upstream {})", cfg.name, cfg.listen, cfg.upstream);
            if cfg.name.trim().is_empty() {
                return Err(format!("{what}: name is empty"));
            }
            if engines.contains_key(&cfg.name) {
                return Err(format!("{what}: another [[chaos.proxy]] has the same name"));
            }
            let run = Run {
                schema_version: fault_model::SCHEMA_VERSION,
                name: format!("warroom proxy {}", cfg.name),
                proxies: vec![Proxy {
                    name: cfg.name.clone(),
                    protocol: TransportProtocol::Tcp,
                    listen: cfg.listen.clone(),
                    upstream: cfg.upstream.clone(),
                }],
                phases: vec![Phase { name: "pass-through".into(), duration: None, proxies: Vec::new() }],
            };
            run.validate().map_err(|e| format!("{what}: {e}"))?;
            let engine = FaultEngine::from_run(&run).start().await.map_err(|e| format!("{what}: {e}"))?;
            let addr = *engine
                .endpoints()
                .tcp
                .first()
                .ok_or_else(|| format!("{what}: the engine bound no TCP endpoint"))?;
            let schedule = engine.begin_schedule().map_err(|e| format!("{what}: {e}"))?;
            engines.insert(cfg.name.clone(), ProxyEngine { config: cfg.clone(), addr, schedule, engine });
        }
        let shared = Arc::new(Shared { proxies: engines, acts: Mutex::new(Acts::default()) });
        for (name, proxy) in &shared.proxies {
            tokio::spawn(watch_phases(Arc::downgrade(&shared), name.clone(), proxy.schedule.transitions()));
        }
        Ok(Network { shared })
    }

    /// Where a proxy accepts connections (the bound port when it was configured as `:0`).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.shared.proxies.get(name).map(|p| p.addr)
    }
}

/// Follows one proxy's phase transitions for the server's life (it ends when the `Network` is
/// dropped, with the schedule): an act's last timed phase ending frees its proxies.
async fn watch_phases(shared: Weak<Shared>, proxy: String, transitions: fault_engine::PhaseTransitions) {
    loop {
        let transition = match transitions.next().await {
            Ok(Some(t)) => t,
            Ok(None) => return,
            // Only when this reader fell 1024 transitions behind; the next ones still count.
            Err(EngineError::MissedPhaseTransitions(n)) => {
                tracing::warn!(%proxy, "chaos proxy `{proxy}`: missed {n} phase transitions");
                continue;
            }
            Err(e) => {
                tracing::error!(%proxy, "chaos proxy `{proxy}`: phase transitions stopped: {e}");
                return;
            }
        };
        if transition.kind != PhaseTransitionKind::Stopped
            || transition.reason != Some(PhaseTransitionReason::DurationElapsed)
        {
            continue;
        }
        let Some(shared) = shared.upgrade() else { return };
        let mut acts = shared.acts.lock().await;
        let Some(&id) = acts.held.get(&proxy) else { continue };
        let Some(act) = acts.acts.get_mut(&id) else { continue };
        if act.phases.get(&proxy).and_then(|p| p.last()) != Some(&transition.phase.id) {
            continue;
        }
        act.running.remove(&proxy);
        if act.running.is_empty() {
            if let Some(act) = acts.release(id) {
                let names: Vec<&str> = act.phases.keys().map(String::as_str).collect();
                let line = format!(
                    "network: run \"{}\" ended after its last phase; {} pass-through again",
                    act.name,
                    names.join(", ")
                );
                act.done.send_replace(Some(Ok(line)));
            }
        }
    }
}

impl Acts {
    /// Forgets an act and frees its proxies (its faults must already be gone).
    fn release(&mut self, id: u64) -> Option<Act> {
        let act = self.acts.remove(&id)?;
        self.held.retain(|_, held| *held != id);
        Some(act)
    }
}

impl Shared {
    /// Removes an act's faults from every proxy it holds: its pending phases are deleted, then
    /// its running phase stopped, which leaves the proxy pass-through.
    async fn clear(&self, acts: &mut Acts, id: u64) -> Result<Vec<String>, String> {
        let Some(act) = acts.release(id) else { return Ok(Vec::new()) };
        let mut errors = Vec::new();
        for (name, phases) in &act.phases {
            let Some(proxy) = self.proxies.get(name) else { continue };
            // Deleting first means no phase of this act can start after the stop below: a
            // phase that started meanwhile is simply no longer pending and is stopped instead.
            for id in phases {
                match proxy.schedule.delete_phase(*id).await {
                    Ok(_) | Err(EngineError::PhaseImmutable { .. }) => {}
                    Err(e) => errors.push(format!("proxy `{name}`: {e}")),
                }
            }
            for id in phases {
                match proxy.schedule.stop_phase(*id).await {
                    Ok(_) | Err(EngineError::PhaseNotRunning(_)) => {}
                    Err(e) => errors.push(format!("proxy `{name}`: {e}")),
                }
            }
            let left: Vec<String> =
                proxy.engine.active_faults().iter().flat_map(|p| p.faults.iter().map(describe)).collect();
            if !left.is_empty() {
                errors.push(format!("proxy `{name}` still has faults after the stop: {}", left.join(", ")));
            }
        }
        // The act is finished either way: whoever waits on it hears that it was stopped.
        drop(act.done);
        if errors.is_empty() {
            Ok(act.phases.into_keys().collect())
        } else {
            Err(format!("network: removing the faults of run \"{}\" failed: {}", act.name, errors.join("; ")))
        }
    }
}

/// Carries out one `network` action: applies the Run document `run` (relative to the
/// scenario's directory) to the configured proxies it names, or with `stop` removes every
/// fault the run `cx.run` added.
pub async fn act(net: &Network, cx: &DriverCx, run: Option<&str>, stop: bool) -> Result<Injected, String> {
    match (run, stop) {
        (Some(_), true) => Err("network: `run` and `stop = true` together: an action either applies a \
                                Run document or removes this run's faults"
            .into()),
        (None, false) => {
            Err("network: `run` names a fault Run document (or `stop = true` as a rollback)".into())
        }
        (None, true) => stop_run(net, cx.run).await.map(Injected::done),
        (Some(file), false) => {
            let path = cx.base_dir.join(file);
            let doc = read_run(&path).await?;
            apply(net, cx.run, &path, doc).await
        }
    }
}

async fn stop_run(net: &Network, run: RunId) -> Result<String, String> {
    let mut acts = net.shared.acts.lock().await;
    let ids: Vec<u64> = acts.acts.iter().filter(|(_, a)| a.run == run).map(|(id, _)| *id).collect();
    let mut cleared = BTreeSet::new();
    let mut errors = Vec::new();
    for id in ids {
        match net.shared.clear(&mut acts, id).await {
            Ok(names) => cleared.extend(names),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(if cleared.is_empty() {
        format!("network: {run} had no network faults active")
    } else {
        let names: Vec<&str> = cleared.iter().map(String::as_str).collect();
        format!("network: removed {run}'s faults; {} pass-through again", names.join(", "))
    })
}

/// Reads a Run document exactly as the `fault` CLI does: by extension, JSON or YAML into a
/// JSON value, then fault-model's own types, its schema version and its validation.
pub async fn read_run(path: &Path) -> Result<Run, String> {
    let shown = path.display();
    let meta = tokio::fs::metadata(path).await.map_err(|e| format!("network run {shown}: {e}"))?;
    if meta.len() > MAX_RUN_FILE {
        return Err(format!(
            "network run {shown}: {} bytes, more than the {MAX_RUN_FILE} allowed",
            meta.len()
        ));
    }
    let text = tokio::fs::read_to_string(path).await.map_err(|e| format!("network run {shown}: {e}"))?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let yaml = match ext.as_deref() {
        Some("json") => false,
        Some("yaml" | "yml") => true,
        _ => return Err(format!("network run {shown}: use a .json, .yaml or .yml file (as the fault CLI)")),
    };
    let value: serde_json::Value = if yaml {
        yaml_serde::from_str(&text).map_err(|e| format!("network run {shown}: YAML: {e}"))?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("network run {shown}: JSON: {e}"))?
    };
    let doc: Run = match serde_json::from_value(value) {
        Ok(doc) => doc,
        Err(e) => {
            // A value carries no positions: parse the text straight into the types again for
            // an error with its line, when that fails the same way.
            let located = if yaml {
                yaml_serde::from_str::<Run>(&text).err().map(|e| e.to_string())
            } else {
                serde_json::from_str::<Run>(&text).err().map(|e| e.to_string())
            };
            return Err(format!("network run {shown}: {}", located.unwrap_or_else(|| e.to_string())));
        }
    };
    fault_model::validate_schema_version(&doc)
        .map_err(|e| format!("network run {shown}: schema_version: {e}"))?;
    doc.validate().map_err(|e| format!("network run {shown}: {e}"))?;
    Ok(doc)
}

/// The same socket address, or the same text (a host name).
fn same_addr(a: &str, b: &str) -> bool {
    match (a.trim().parse::<SocketAddr>(), b.trim().parse::<SocketAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

/// Checks a document's proxies against the configured ones: the server opens no listener and
/// reaches no upstream that a scenario file chose and the operator did not configure.
fn check_proxies(net: &Network, path: &Path, doc: &Run) -> Result<(), String> {
    let shown = path.display();
    for (i, p) in doc.proxies.iter().enumerate() {
        let Some(have) = net.shared.proxies.get(&p.name) else {
            let names: Vec<&str> = net.shared.proxies.keys().map(String::as_str).collect();
            return Err(format!(
                "network run {shown}: proxies[{i}]: proxy `{}` is not one of this server's [[chaos.proxy]] ({})",
                p.name,
                if names.is_empty() { "none configured".to_string() } else { names.join(", ") }
            ));
        };
        if p.protocol != TransportProtocol::Tcp {
            return Err(format!(
                "network run {shown}: proxies[{i}].protocol: proxy `{}` is `{}` here but the configured proxy is `tcp`",
                p.name,
                p.protocol.as_str()
            ));
        }
        // The bound address also counts, for a proxy configured on port 0.
        if !same_addr(&p.listen, &have.config.listen) && !same_addr(&p.listen, &have.addr.to_string()) {
            return Err(format!(
                "network run {shown}: proxies[{i}].listen: proxy `{}` listens on `{}` here but on `{}` in the server's config",
                p.name, p.listen, have.config.listen
            ));
        }
        if !same_addr(&p.upstream, &have.config.upstream) {
            return Err(format!(
                "network run {shown}: proxies[{i}].upstream: proxy `{}` forwards to `{}` here but to `{}` in the server's config",
                p.name, p.upstream, have.config.upstream
            ));
        }
    }
    Ok(())
}

async fn apply(net: &Network, run: RunId, path: &Path, doc: Run) -> Result<Injected, String> {
    check_proxies(net, path, &doc)?;
    let shown = path.display();
    // Only the proxies a phase names are held; a declared but unused proxy stays free.
    let targets: BTreeSet<String> =
        doc.phases.iter().flat_map(|ph| ph.proxies.iter().map(|p| p.proxy.clone())).collect();
    let last_timed = doc.phases.last().is_some_and(|ph| ph.duration.is_some());

    let mut acts = net.shared.acts.lock().await;
    for name in &targets {
        if let Some(holder) = acts.held.get(name).and_then(|id| acts.acts.get(id)) {
            if holder.run != run {
                return Err(format!(
                    "network run {shown}: proxy `{name}` already carries the faults of {} (run \"{}\"); stop it first",
                    holder.run, holder.name
                ));
            }
        }
    }
    // A later network action of the same run replaces its earlier faults on these proxies.
    let earlier: BTreeSet<u64> = targets.iter().filter_map(|n| acts.held.get(n).copied()).collect();
    for id in earlier {
        net.shared.clear(&mut acts, id).await?;
    }

    acts.next += 1;
    let id = acts.next;
    let (done, mut done_rx) = watch::channel(None);
    done_rx.mark_unchanged();
    let mut act = Act {
        run,
        name: doc.name.clone(),
        phases: BTreeMap::new(),
        running: if last_timed { targets.clone() } else { BTreeSet::new() },
        done,
    };
    // Every phase goes on every target's schedule (with no faults where the phase does not name
    // the proxy), so the proxies move from phase to phase together.
    let mut failed = None;
    'add: for name in &targets {
        let Some(proxy) = net.shared.proxies.get(name) else { continue };
        let ids = act.phases.entry(name.clone()).or_default();
        for ph in &doc.phases {
            let faults: Vec<ProxyFaults> = ph.proxies.iter().filter(|p| &p.proxy == name).cloned().collect();
            match proxy.schedule.add_phase(ph.name.clone(), ph.duration.clone(), faults).await {
                Ok(added) => ids.push(added.id),
                Err(e) => {
                    failed =
                        Some(format!("network run {shown}: phase \"{}\" on proxy `{name}`: {e}", ph.name));
                    break 'add;
                }
            }
        }
    }
    acts.acts.insert(id, act);
    for name in &targets {
        acts.held.insert(name.clone(), id);
    }
    if failed.is_none() {
        for name in &targets {
            let (Some(proxy), Some(first)) = (
                net.shared.proxies.get(name),
                acts.acts.get(&id).and_then(|a| a.phases.get(name)?.first().copied()),
            ) else {
                continue;
            };
            if let Err(e) = proxy.schedule.start_phase(first).await {
                failed = Some(format!("network run {shown}: starting on proxy `{name}`: {e}"));
                break;
            }
        }
    }
    if let Some(why) = failed {
        // Undo what was added or started: a half-applied run leaves nothing behind.
        return Err(match net.shared.clear(&mut acts, id).await {
            Ok(_) => why,
            Err(e) => format!("{why}; {e}"),
        });
    }
    drop(acts);

    let output = summary(&doc, &targets);
    let ongoing =
        Running { shared: Arc::downgrade(&net.shared), act: id, run, name: doc.name, done: done_rx };
    Ok(Injected { output, ongoing: Some(Box::new(ongoing)) })
}

/// `network run "slow shop": phase "slow" 30s: latency 300ms both on shop; then phase "down"
/// until stopped: blackhole to-client on shop`.
fn summary(doc: &Run, targets: &BTreeSet<String>) -> String {
    let phases: Vec<String> = doc
        .phases
        .iter()
        .map(|ph| {
            let length = ph.duration.as_ref().map_or("until stopped".to_string(), |d| d.to_string());
            let on: Vec<String> = targets
                .iter()
                .map(|name| {
                    let faults: Vec<String> = ph
                        .proxies
                        .iter()
                        .filter(|p| &p.proxy == name)
                        .flat_map(|p| p.faults.iter().map(describe))
                        .collect();
                    let faults =
                        if faults.is_empty() { "pass-through".to_string() } else { faults.join(", ") };
                    format!("{faults} on {name}")
                })
                .collect();
            format!("phase \"{}\" {length}: {}", ph.name, on.join("; "))
        })
        .collect();
    format!("network run \"{}\": {}", doc.name, phases.join("; then "))
}

/// One fault in the Run document's own spelling.
fn describe(fault: &FaultSpec) -> String {
    match fault {
        FaultSpec::Latency { flow, distribution } => format!("latency {} {flow}", delay(distribution)),
        FaultSpec::Jitter { flow, min_delay_ms, max_delay_ms, probability } => {
            format!("jitter {min_delay_ms}-{max_delay_ms}ms p={probability} {flow}")
        }
        FaultSpec::Bandwidth { flow, bytes_per_second } => format!("bandwidth {bytes_per_second}B/s {flow}"),
        FaultSpec::Blackhole { flow } => format!("blackhole {flow}"),
        FaultSpec::ConnectionReset { flow, probability } => {
            format!("connection-reset p={probability} {flow}")
        }
        FaultSpec::Dns { case, .. } => {
            let case = serde_json::to_value(case)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            format!("dns {case}")
        }
    }
}

fn delay(d: &DelayDistribution) -> String {
    match d {
        DelayDistribution::Uniform { min_ms, max_ms } if min_ms == max_ms => format!("{min_ms}ms"),
        DelayDistribution::Uniform { min_ms, max_ms } => format!("{min_ms}-{max_ms}ms"),
        DelayDistribution::Normal { mean_ms, stddev_ms } => format!("normal {mean_ms}ms sd {stddev_ms}ms"),
        DelayDistribution::Pareto { shape, scale_ms } => format!("pareto shape {shape} scale {scale_ms}ms"),
        DelayDistribution::ParetoNormal { normal_mean_ms, .. } => {
            format!("pareto-normal mean {normal_mean_ms}ms")
        }
    }
}

/// The faults of one applied Run document, until stopped or until its last timed phase ends.
struct Running {
    shared: Weak<Shared>,
    act: u64,
    run: RunId,
    name: String,
    done: watch::Receiver<Option<Result<String, String>>>,
}

impl Ongoing for Running {
    fn stop(self: Box<Self>) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async move {
            let Some(shared) = self.shared.upgrade() else {
                return Ok("network: the proxies are closed (server shutting down)".into());
            };
            let mut acts = shared.acts.lock().await;
            if !acts.acts.contains_key(&self.act) {
                return Ok(format!("network: run \"{}\" of {} had already ended", self.name, self.run));
            }
            let names = shared.clear(&mut acts, self.act).await?;
            Ok(format!(
                "network: removed the faults of run \"{}\"; {} pass-through again",
                self.name,
                names.join(", ")
            ))
        })
    }

    fn finished(&mut self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            loop {
                if let Some(end) = self.done.borrow_and_update().clone() {
                    return end;
                }
                // The sender goes when the faults were removed by a stop: not an end by itself.
                if self.done.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        })
    }
}
