//! Chaos runs: villains start scenarios from the server's catalogue; the server's runner checks
//! the steady state, injects each phase, rolls back and judges the hypothesis, and every step
//! is a fact in the one log, beside the incidents the run causes. Decided and folded here.
//!
//! The catalogue is the team's own TOML files ([`parse`]). What a client sees of a scenario is
//! its [`ScenarioInfo`]: never a driver's URL, headers or command line, which stay on the server.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, Fact};
use super::incident::{snake_enum, Incident, IncidentId};
use super::intent::{
    check_len, check_text, clip, Intent, Rejection, MAX_DETAIL, MAX_NAME, MAX_SERVICES, MAX_TEXT, MAX_TITLE,
};
use super::playbook::{parse_go_duration, DurationError, PlaybookError};
use super::probe::Health;
use super::timeline::EntryKind;
use super::{Context, State, UserRole};

/// Output of one driver step kept in the log: enough to read what happened (a journal's
/// summary, a command's last lines), bounded because it quotes what a driver printed.
pub const MAX_OUTPUT: usize = 4 * 1024;
/// A scenario runs at most this long: a game day, not a week.
pub const MAX_DURATION_SECS: u64 = 24 * 3600;
/// Phases and rollback actions per scenario.
pub const MAX_ACTIONS: usize = 32;
/// The longest `timeout` of an `http` or `command` action. A rollback is retried only after
/// its attempt ends, and a halt answers without waiting past 30 s: a step that may hang for
/// hours would leave the shop broken that long with no retry.
pub const MAX_ACTION_TIMEOUT_SECS: u64 = 15 * 60;
/// Runs kept in full; older ended runs keep no log (their verdicts stay).
pub const RUN_LOG_MAX: usize = 200;

super::incident::numbered_id! {
    /// `RUN-3`: assigned by the server, in start order.
    RunId, "RUN", "run", "a run id"
}

// ---------------------------------------------------------------------------------------------
// The catalogue: scenario files.

/// What halts a run before its duration: AWS FIS's stop conditions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StopWhen {
    /// `"outside_blast_radius_down"` (any probe not in the target goes down) or `"never"`.
    Rule(StopRule),
    /// Any of these probes goes down.
    Probes(Vec<String>),
    #[default]
    #[serde(skip)]
    Default,
}

snake_enum! {
    /// The named stop conditions.
    StopRule {
        OutsideBlastRadiusDown = "outside_blast_radius_down",
        Never = "never",
    } what = "stop rule"
}

impl StopWhen {
    /// Whether `probe` turning down halts a run of a scenario that targets `target`.
    pub fn fires(&self, target: &[String], probe: &str) -> bool {
        match self {
            StopWhen::Rule(StopRule::Never) => false,
            StopWhen::Rule(StopRule::OutsideBlastRadiusDown) | StopWhen::Default => {
                !target.iter().any(|t| t == probe)
            }
            StopWhen::Probes(list) => list.iter().any(|p| p == probe),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StopWhen::Rule(StopRule::Never) => "never".into(),
            StopWhen::Rule(StopRule::OutsideBlastRadiusDown) | StopWhen::Default => {
                "a probe outside the blast radius goes down".into()
            }
            StopWhen::Probes(list) => format!("any of {} goes down", list.join(", ")),
        }
    }
}

/// One action of a driver, as written in a scenario file. The server runs it; a client only
/// ever names the scenario. Paths are relative to the scenario's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum Action {
    /// The demo shop's application faults (its admin API): `fault` plus the fault's fields.
    Demo {
        fault: String,
        #[serde(flatten)]
        params: BTreeMap<String, serde_json::Value>,
    },
    /// A `fault` Run document (YAML or JSON): TCP faults in timed phases through proxies.
    /// As a rollback: `stop = true` ends this run's network faults.
    Network {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        #[serde(default, skip_serializing_if = "super::is_false")]
        stop: bool,
    },
    /// A Chaos Toolkit experiment, run with the real `chaos` CLI. Stopping the run interrupts
    /// it, so Chaos Toolkit runs its own rollbacks.
    Chaostoolkit { experiment: String },
    /// One HTTP request (Toxiproxy's API, a Chaos Mesh or Gremlin endpoint).
    Http {
        #[serde(default = "default_method")]
        method: String,
        url: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
    /// A program with arguments: no shell, a timeout, its output captured.
    Command {
        program: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
}

fn default_method() -> String {
    "POST".into()
}

impl Action {
    pub fn driver(&self) -> &'static str {
        match self {
            Action::Demo { .. } => "demo",
            Action::Network { .. } => "network",
            Action::Chaostoolkit { .. } => "chaostoolkit",
            Action::Http { .. } => "http",
            Action::Command { .. } => "command",
        }
    }

    /// One line a client may see: what it does, without URLs' credentials, headers or bodies.
    pub fn describe(&self) -> String {
        match self {
            Action::Demo { fault, params } => {
                let fields: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", plain(v))).collect();
                if fields.is_empty() {
                    format!("demo {fault}")
                } else {
                    format!("demo {fault} {}", fields.join(" "))
                }
            }
            Action::Network { run: Some(run), .. } => format!("network run {run}"),
            Action::Network { .. } => "network stop".into(),
            Action::Chaostoolkit { experiment } => format!("chaos run {experiment}"),
            Action::Http { method, url, .. } => {
                // Only scheme, host and path: a query may carry a key.
                let shown = url.split(['?', '#']).next().unwrap_or_default();
                let shown = match shown.split_once("://") {
                    Some((scheme, rest)) => {
                        format!("{scheme}://{}", rest.rsplit_once('@').map_or(rest, |(_, host)| host))
                    }
                    None => shown.to_string(),
                };
                format!("{method} {shown}")
            }
            Action::Command { program, .. } => format!("command {program}"),
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, why: String| Err((field.to_string(), why));
        match self {
            Action::Demo { fault, .. } if fault.trim().is_empty() => bad("fault", "must name a fault".into()),
            Action::Network { run: None, stop: false } => {
                bad("run", "names a fault Run document (or `stop = true` as a rollback)".into())
            }
            Action::Network { run: Some(r), .. } if r.trim().is_empty() => bad("run", "is empty".into()),
            Action::Chaostoolkit { experiment } if experiment.trim().is_empty() => {
                bad("experiment", "is empty".into())
            }
            Action::Http { method, url, timeout, .. } => {
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    return bad("method", format!("`{method}` is not one of GET, POST, PUT, PATCH, DELETE"));
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return bad("url", format!("`{url}` is not an http(s) URL"));
                }
                check_timeout(timeout)
            }
            Action::Command { program, timeout, .. } => {
                if program.trim().is_empty() {
                    return bad("program", "is empty".into());
                }
                check_timeout(timeout)
            }
            _ => Ok(()),
        }
    }
}

fn check_timeout(timeout: &Option<String>) -> Result<(), (String, String)> {
    match timeout.as_deref().map(millis) {
        None => Ok(()),
        Some(Ok(ms)) if ms > MAX_ACTION_TIMEOUT_SECS * 1000 => {
            Err(("timeout".into(), format!("is more than {}m", MAX_ACTION_TIMEOUT_SECS / 60)))
        }
        Some(Ok(_)) => Ok(()),
        Some(Err(why)) => Err(("timeout".into(), why)),
    }
}

/// A JSON value as a human writes it in a line (strings without quotes).
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A duration like `20m`, `500ms` or `0s`, in milliseconds.
pub fn millis(s: &str) -> Result<u64, String> {
    match parse_go_duration(s) {
        Ok(n) if n >= 0 => u64::try_from(n / 1_000_000).map_err(|_| format!("`{s}` is too long")),
        Ok(_) => Err(format!("`{s}` is negative")),
        Err(DurationError::TooLong) => Err(format!("`{s}` is too long")),
        Err(DurationError::NotADuration) => Err(format!("`{s}` is not a duration (like 20m, 90s, 500ms)")),
    }
}

/// One step of a progressive scenario: `after` the previous phase started, inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    #[serde(default = "zero")]
    pub after: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub inject: Action,
}

fn zero() -> String {
    "0s".into()
}

/// A scenario file, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub briefing: String,
    #[serde(default)]
    pub hypothesis: String,
    pub target: Vec<String>,
    pub duration: String,
    #[serde(default)]
    pub steady_state: Vec<String>,
    #[serde(default)]
    pub stop_when: StopWhen,
    #[serde(rename = "phase")]
    pub phases: Vec<Phase>,
    #[serde(default)]
    pub rollback: Vec<Action>,
}

impl Scenario {
    pub fn duration_ms(&self) -> u64 {
        millis(&self.duration).unwrap_or(0)
    }

    /// When each phase starts, in milliseconds from the start of the run.
    pub fn phase_offsets(&self) -> Vec<u64> {
        let mut at = 0u64;
        self.phases
            .iter()
            .map(|p| {
                at = at.saturating_add(millis(&p.after).unwrap_or(0));
                at
            })
            .collect()
    }

    /// What a client may see of it.
    pub fn info(&self) -> ScenarioInfo {
        ScenarioInfo {
            id: self.id.clone(),
            title: self.title.clone(),
            briefing: self.briefing.clone(),
            hypothesis: self.hypothesis.clone(),
            target: self.target.clone(),
            duration_secs: self.duration_ms() / 1000,
            steady_state: self.steady_state.clone(),
            stop_when: self.stop_when.describe(),
            phases: self
                .phases
                .iter()
                .zip(self.phase_offsets())
                .map(|(p, at)| PhaseInfo {
                    at_secs: at / 1000,
                    title: p.title.clone().unwrap_or_else(|| p.inject.describe()),
                    driver: p.inject.driver().to_string(),
                })
                .collect(),
            rollback: self.rollback.iter().map(Action::describe).collect(),
        }
    }
}

/// A scenario as every client sees it in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub briefing: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hypothesis: String,
    pub target: Vec<String>,
    pub duration_secs: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steady_state: Vec<String>,
    pub stop_when: String,
    pub phases: Vec<PhaseInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseInfo {
    pub at_secs: u64,
    pub title: String,
    pub driver: String,
}

/// Parses and checks one scenario file's text; the error names the line and field.
pub fn parse(text: &str) -> Result<Scenario, PlaybookError> {
    let sc: Scenario = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
        // serde's words for a bad untagged value name a Rust type; say what may be written.
        if e.message().contains("enum StopWhen") {
            let message = "expected \"outside_blast_radius_down\", \"never\" or a list of probe names";
            return PlaybookError { line, field: Some("stop_when".into()), message: message.into() };
        }
        PlaybookError { line, field: None, message: e.message().to_string() }
    })?;
    // The line of `key = …` in the i-th `[[block]]` (or the top level for `None`).
    let line_of = |block: Option<(&str, usize)>, key: &str| -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        let start = match block {
            None => 0,
            Some((name, i)) => {
                let header = format!("[[{name}]]");
                lines.iter().enumerate().filter(|(_, l)| l.trim() == header).nth(i)?.0
            }
        };
        let end = lines
            .get(start + 1..)
            .and_then(|rest| rest.iter().position(|l| l.trim().starts_with('[')))
            .map_or(lines.len(), |p| start + 1 + p);
        let found = lines
            .get(start..end)
            .and_then(|b| b.iter().position(|l| l.trim_start().starts_with(key) && l.contains('=')))
            .map(|p| start + p + 1);
        found.or(Some(start + 1))
    };
    let err = |field: String, line: Option<usize>, message: String| PlaybookError {
        line,
        field: Some(field),
        message,
    };
    // The id is typed at `:chaos start ID` and printed on every console: no control characters.
    if sc.id.trim().is_empty()
        || sc.id.contains(|c: char| c.is_whitespace() || c.is_control())
        || sc.id.chars().count() > MAX_NAME
    {
        return Err(err(
            "id".into(),
            line_of(None, "id"),
            format!("must be a non-empty word of at most {MAX_NAME} characters, without control characters"),
        ));
    }
    if sc.title.trim().is_empty() {
        return Err(err("title".into(), line_of(None, "title"), "must not be empty".into()));
    }
    // Every start copies the scenario's info into the log and into every client's state.
    for (field, text, max) in [
        ("title", &sc.title, MAX_TITLE),
        ("briefing", &sc.briefing, MAX_TEXT),
        ("hypothesis", &sc.hypothesis, MAX_TEXT),
    ] {
        let len = text.chars().count();
        if len > max {
            return Err(err(
                field.into(),
                line_of(None, field),
                format!("is {len} characters long, the limit is {max}"),
            ));
        }
    }
    let probe_list = |field: &str, list: &[String]| -> Result<(), PlaybookError> {
        if list.len() > MAX_SERVICES {
            return Err(err(
                field.into(),
                line_of(None, field),
                format!("names more than {MAX_SERVICES} probes"),
            ));
        }
        if list.iter().any(|t| t.trim().is_empty() || t.chars().count() > MAX_NAME) {
            return Err(err(
                field.into(),
                line_of(None, field),
                format!("has an empty name or one longer than {MAX_NAME} characters"),
            ));
        }
        Ok(())
    };
    if sc.target.is_empty() || sc.target.iter().any(|t| t.trim().is_empty()) {
        return Err(err(
            "target".into(),
            line_of(None, "target"),
            "names the services (probes) it breaks".into(),
        ));
    }
    probe_list("target", &sc.target)?;
    probe_list("steady_state", &sc.steady_state)?;
    if let StopWhen::Probes(list) = &sc.stop_when {
        probe_list("stop_when", list)?;
    }
    match millis(&sc.duration) {
        Ok(0) => {
            return Err(err("duration".into(), line_of(None, "duration"), "must be more than 0s".into()))
        }
        Ok(ms) if ms > MAX_DURATION_SECS * 1000 => {
            return Err(err("duration".into(), line_of(None, "duration"), "is more than 24h".into()))
        }
        Ok(_) => {}
        Err(why) => return Err(err("duration".into(), line_of(None, "duration"), why)),
    }
    if let StopWhen::Probes(list) = &sc.stop_when {
        if list.is_empty() {
            return Err(err("stop_when".into(), line_of(None, "stop_when"), "names no probe".into()));
        }
    }
    if sc.phases.is_empty() {
        return Err(err("phase".into(), None, "a scenario needs at least one [[phase]]".into()));
    }
    if sc.phases.len() > MAX_ACTIONS || sc.rollback.len() > MAX_ACTIONS {
        return Err(err("phase".into(), None, format!("at most {MAX_ACTIONS} phases and rollbacks")));
    }
    for (i, p) in sc.phases.iter().enumerate() {
        if let Err(why) = millis(&p.after) {
            return Err(err(format!("phase[{i}].after"), line_of(Some(("phase", i)), "after"), why));
        }
        if let Err((field, why)) = p.inject.check() {
            return Err(err(
                format!("phase[{i}].inject.{field}"),
                line_of(Some(("phase", i)), "inject"),
                why,
            ));
        }
    }
    let ends = sc.phase_offsets().last().copied().unwrap_or(0);
    if ends >= sc.duration_ms() {
        return Err(err(
            "phase".into(),
            line_of(None, "duration"),
            format!("the last phase starts at or after the duration ({})", sc.duration),
        ));
    }
    for (i, a) in sc.rollback.iter().enumerate() {
        if let Err((field, why)) = a.check() {
            return Err(err(format!("rollback[{i}].{field}"), line_of(Some(("rollback", i)), &field), why));
        }
    }
    Ok(sc)
}

// ---------------------------------------------------------------------------------------------
// Runs: the state every client folds.

snake_enum! {
    /// Why a run ended (or is ending).
    StopCause {
        // A villain or admin stopped it.
        Stopped = "stopped",
        // Halt-all.
        Halted = "halted",
        // Its duration ran out.
        Duration = "duration",
        // Every phase was injected and every lasting effect (an experiment) ended by itself.
        Completed = "completed",
        // Its `stop_when` fired.
        StopCondition = "stop_condition",
        // Its steady state did not hold before the start.
        SteadyState = "steady_state",
        // An inject failed.
        InjectFailed = "inject_failed",
        // No villain or admin was connected for too long.
        DeadMan = "dead_man",
        // The server shut down.
        Shutdown = "shutdown",
        // The server started and found it active (after a crash).
        Restart = "restart",
    } what = "stop cause"
}

snake_enum! {
    /// What a recorded driver step was.
    StepKind {
        SteadyState = "steady_state",
        Inject = "inject",
        Rollback = "rollback",
        // Something a long-running driver reported (a Chaos Toolkit journal).
        Report = "report",
    } what = "step kind"
}

snake_enum! {
    /// Where a run is.
    RunPhase {
        // Started; the steady state is being checked.
        Starting = "starting",
        Running = "running",
        // Asked to end: rolling back (and retrying while its rollback fails).
        Stopping = "stopping",
        Ended = "ended",
    } what = "run phase"
}

/// The hypothesis judged from the steady-state probes at the end of the method (before
/// rollback), as Chaos Toolkit does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub deviated: bool,
    /// Each steady-state probe's health when judged.
    pub probes: BTreeMap<String, Health>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub step: StepKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<usize>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub ok: bool,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub scenario: ScenarioInfo,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    /// When it is rolled back at the latest.
    pub ends_at: DateTime<Utc>,
    pub phase: RunPhase,
    /// Phases injected so far.
    pub injected: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<StopCause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last rollback attempt failed and is being retried: loud until it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Incidents declared about its targets while it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentId>,
    /// The game day it was played in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gameday: Option<super::gameday::GameDayId>,
    pub steps: Vec<RunStep>,
}

impl Run {
    pub fn is_active(&self) -> bool {
        self.phase != RunPhase::Ended
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disarmed {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// The chaos half of the state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chaos {
    /// Set by halt-all: nothing starts until someone arms again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disarmed: Option<Disarmed>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runs: BTreeMap<RunId, Run>,
}

impl Chaos {
    pub fn is_empty(&self) -> bool {
        self.disarmed.is_none() && self.runs.is_empty()
    }

    pub fn active(&self) -> impl Iterator<Item = &Run> {
        self.runs.values().filter(|r| r.is_active())
    }

    pub fn run(&self, id: RunId) -> Result<&Run, Rejection> {
        self.runs.get(&id).ok_or(Rejection::UnknownRun(id))
    }

    /// The active run whose blast radius covers one of `services`: what an incident about
    /// them is linked to.
    pub fn cause_of(&self, services: &[String]) -> Option<&Run> {
        self.active().find(|r| r.scenario.target.iter().any(|t| services.contains(t)))
    }
}

/// Who may drive chaos: villains and admins; the server's own runner acts as an admin.
pub fn may_drive(role: UserRole) -> bool {
    matches!(role, UserRole::Villain | UserRole::Admin)
}

pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let chaos = &state.chaos;
    let fact = match intent {
        Intent::StartScenario { scenario } => {
            check_text("scenario", scenario, MAX_NAME)?;
            if let Some(d) = &chaos.disarmed {
                return Err(Rejection::Conflict(format!(
                    "chaos is disarmed since {} by {} ({}): arm it first",
                    d.at.format("%H:%M:%S UTC"),
                    d.by,
                    d.reason
                )));
            }
            let info = cx
                .library
                .scenario(scenario)
                .ok_or_else(|| Rejection::UnknownScenario(scenario.clone()))?
                .clone();
            if let Some(r) = chaos.active().find(|r| r.scenario.id == info.id) {
                return Err(Rejection::Conflict(format!("{} is already running as {}", info.id, r.id)));
            }
            let run =
                match chaos.runs.keys().next_back() {
                    None => RunId(1),
                    Some(last) => RunId(last.0.checked_add(1).ok_or_else(|| {
                        Rejection::Conflict(format!("{last} is the last run number there is"))
                    })?),
                };
            let ends_at = cx
                .now
                .checked_add_signed(Duration::seconds(info.duration_secs.min(MAX_DURATION_SECS) as i64))
                .ok_or_else(|| Rejection::Invalid {
                    field: "scenario",
                    detail: "ends after the calendar".into(),
                })?;
            // While a game day runs, chaos is its planned scenarios (an informed one tells the
            // heroes as it starts).
            let mut facts = Vec::new();
            let mut gameday = None;
            // A planned scenario started before its game day would run in the open, unscored.
            if let Some(g) = state.gamedays.open().filter(|g| g.stage == super::gameday::Stage::Planned) {
                if g.planned(&info.id).is_some() {
                    return Err(Rejection::Conflict(format!(
                        "{} is planned in {}, which has not started: it runs once the game master starts it",
                        info.id, g.id
                    )));
                }
            }
            if let Some(g) = state.gamedays.running() {
                let plan = g.planned(&info.id).ok_or_else(|| {
                    Rejection::Conflict(format!(
                        "{} is running and {} is not planned in it: the game master plans it first",
                        g.id, info.id
                    ))
                })?;
                gameday = Some(g.id);
                if g.style == super::gameday::Style::Informed {
                    facts.push(Fact::ScenarioKickedOff {
                        gameday: g.id,
                        kickoff: super::gameday::Kickoff {
                            plan: plan.n,
                            title: plan.title.clone(),
                            briefing: plan.briefing.clone(),
                            target: plan.target.clone(),
                            duration_secs: info.duration_secs,
                            environment: cx.library.gameday.environment.clone(),
                            channel: cx.library.gameday.kickoff_channel.clone(),
                            posted: None,
                            settled: false,
                        },
                    });
                }
            }
            facts.insert(0, Fact::ScenarioStarted { run, scenario: Box::new(info), ends_at, gameday });
            return Ok(facts);
        }
        Intent::StopScenario { run, reason } => {
            let r = chaos.run(*run)?;
            if let Some(reason) = reason {
                check_len("reason", reason, MAX_TEXT)?;
            }
            if !r.is_active() {
                return Err(Rejection::Conflict(format!("{run} has already ended")));
            }
            if r.phase == RunPhase::Stopping {
                return Err(Rejection::Conflict(format!("{run} is already stopping")));
            }
            Fact::ScenarioStopping { run: *run, cause: StopCause::Stopped, reason: reason.clone() }
        }
        Intent::EndScenario { run, cause, reason } => {
            let r = chaos.run(*run)?;
            if r.phase == RunPhase::Ended || (r.phase == RunPhase::Stopping && r.cause == Some(*cause)) {
                return Err(Rejection::Conflict(format!("{run} is already {}", r.phase)));
            }
            // A run already stopping keeps its first cause; a halt or a restart still says so.
            let reason = reason.as_deref().map(|r| clip(r, MAX_DETAIL));
            Fact::ScenarioStopping { run: *run, cause: *cause, reason }
        }
        Intent::HaltAll { reason } => {
            check_text("reason", reason, MAX_TEXT)?;
            let runs: Vec<RunId> = chaos.active().map(|r| r.id).collect();
            // Halting twice is not an error: the second halt is recorded too (someone pressed
            // the big red button; the log should say so), and it stays disarmed.
            Fact::ChaosHalted { reason: reason.trim().to_string(), runs }
        }
        Intent::ArmChaos {} => {
            if chaos.disarmed.is_none() {
                return Err(Rejection::Conflict("chaos is already armed".into()));
            }
            Fact::ChaosArmed {}
        }
        Intent::RecordChaos { run, step, phase, driver, ok, output } => {
            let r = chaos.run(*run)?;
            if r.phase == RunPhase::Ended && *step != StepKind::Report {
                return Err(Rejection::Conflict(format!("{run} has ended")));
            }
            check_len("driver", driver, MAX_NAME)?;
            Fact::ChaosStep {
                run: *run,
                step: *step,
                phase: *phase,
                driver: driver.clone(),
                ok: *ok,
                output: clip(output, MAX_OUTPUT),
            }
        }
        Intent::FinishScenario { run, verdict } => {
            let r = chaos.run(*run)?;
            if r.phase == RunPhase::Ended {
                return Err(Rejection::Conflict(format!("{run} has already ended")));
            }
            Fact::ScenarioEnded { run: *run, verdict: verdict.clone() }
        }
        other => return Err(super::misrouted("chaos", other)),
    };
    Ok(vec![fact])
}

/// Folds the chaos facts that are not about an incident.
pub(super) fn apply(state: &mut State, event: &Event) {
    let chaos = &mut state.chaos;
    match &event.fact {
        Fact::ScenarioStarted { run, scenario, ends_at, gameday } => {
            chaos.runs.insert(
                *run,
                Run {
                    id: *run,
                    scenario: (**scenario).clone(),
                    started_by: event.actor.clone(),
                    started_at: event.at,
                    ends_at: *ends_at,
                    phase: RunPhase::Starting,
                    injected: 0,
                    cause: None,
                    reason: None,
                    rollback_failed: None,
                    verdict: None,
                    ended_at: None,
                    incidents: Vec::new(),
                    gameday: *gameday,
                    steps: Vec::new(),
                },
            );
            // Old ended runs drop their step logs: the catalogue of a year stays small.
            let ended: Vec<RunId> =
                chaos.runs.values().filter(|r| !r.is_active() && !r.steps.is_empty()).map(|r| r.id).collect();
            for id in ended.iter().take(ended.len().saturating_sub(RUN_LOG_MAX)) {
                if let Some(r) = chaos.runs.get_mut(id) {
                    r.steps = Vec::new();
                }
            }
        }
        Fact::ScenarioStopping { run, cause, reason } => {
            if let Some(r) = chaos.runs.get_mut(run).filter(|r| r.is_active()) {
                if r.phase != RunPhase::Stopping {
                    r.cause = Some(*cause);
                    r.reason = reason.clone();
                }
                r.phase = RunPhase::Stopping;
            }
        }
        Fact::ChaosStep { run, step, phase, driver, ok, output } => {
            if let Some(r) = chaos.runs.get_mut(run) {
                match (step, ok) {
                    (StepKind::SteadyState, true) | (StepKind::Inject, true)
                        if r.phase == RunPhase::Starting =>
                    {
                        r.phase = RunPhase::Running
                    }
                    (StepKind::Rollback, false) => r.rollback_failed = Some(clip(output, MAX_DETAIL)),
                    (StepKind::Rollback, true) => r.rollback_failed = None,
                    _ => {}
                }
                if *step == StepKind::Inject && *ok {
                    r.injected = r.injected.saturating_add(1);
                }
                r.steps.push(RunStep {
                    seq: event.seq,
                    at: event.at,
                    actor: event.actor.clone(),
                    step: *step,
                    phase: *phase,
                    driver: driver.clone(),
                    ok: *ok,
                    output: output.clone(),
                });
            }
        }
        Fact::ScenarioEnded { run, verdict } => {
            if let Some(r) = chaos.runs.get_mut(run) {
                r.phase = RunPhase::Ended;
                r.verdict = verdict.clone();
                r.ended_at = Some(event.at);
                // A rollback that failed for good (an effect that could not be stopped) stays
                // red after the end: never forgotten.
            }
        }
        Fact::ChaosHalted { reason, runs } => {
            chaos.disarmed = Some(Disarmed { by: event.actor.clone(), at: event.at, reason: reason.clone() });
            // A run already stopping keeps its first cause (the halt only retried its rollback).
            for id in runs {
                if let Some(r) = chaos
                    .runs
                    .get_mut(id)
                    .filter(|r| r.phase != RunPhase::Ended && r.phase != RunPhase::Stopping)
                {
                    r.phase = RunPhase::Stopping;
                    r.cause = Some(StopCause::Halted);
                    r.reason = Some(reason.clone());
                }
            }
        }
        Fact::ChaosArmed {} => chaos.disarmed = None,
        _ => {}
    }
}

/// An incident declared about a run's target: the incident's side of the link (its own
/// entry, so one incident's events alone fold to the same incident).
pub(super) fn apply_link(inc: &mut Incident, event: &Event) -> Option<EntryKind> {
    let Fact::RunLinked { run, scenario, .. } = &event.fact else { return None };
    inc.caused_by = Some(*run);
    Some(EntryKind::CausedBy { run: *run, scenario: scenario.clone() })
}

/// The run's side of the link.
pub(super) fn link_run(state: &mut State, event: &Event) {
    if let Fact::RunLinked { run, incident, .. } = &event.fact {
        if let Some(r) = state.chaos.runs.get_mut(run) {
            if !r.incidents.contains(incident) {
                r.incidents.push(*incident);
            }
        }
    }
}

/// The link fact for an incident about to be declared about `services`, if a run caused it,
/// with the `started` milestone it brings. A run of a game day that hides its chaos is linked
/// at its debrief instead (the link names the scenario).
pub(super) fn link(
    state: &State,
    incident: IncidentId,
    services: &[String],
    now: DateTime<Utc>,
) -> Vec<Fact> {
    let hidden = |r: &&Run| r.gameday.and_then(|g| state.gamedays.0.get(&g)).is_some_and(|g| g.hides_chaos());
    let Some(r) = state.chaos.cause_of(services).filter(|r| !hidden(r)) else { return Vec::new() };
    let mut facts = vec![Fact::RunLinked { run: r.id, incident, scenario: r.scenario.id.clone() }];
    facts.extend(started_milestone(state, incident, r.id, now));
    facts
}

/// The `started` milestone a link brings an incident that has none: with a chaos run the
/// fault's start is known exactly, the run's first successful inject (FireFighter's "started";
/// in a game day, the moment the villain broke it), so time to detect and to recover are exact.
/// An inject the deciding clock puts in the future (a clock stepped back) is held to the rule of
/// every milestone and brings none.
pub(super) fn started_milestone(
    state: &State,
    incident: IncidentId,
    run: RunId,
    now: DateTime<Utc>,
) -> Option<Fact> {
    if state.incidents.get(&incident).is_some_and(|i| i.milestones.contains_key(&super::Milestone::Started)) {
        return None;
    }
    let injected = state.chaos.runs.get(&run)?.steps.iter().find(|s| s.step == StepKind::Inject && s.ok)?.at;
    super::incident::check_milestone_time(injected, now).ok()?;
    Some(Fact::MilestoneSet { incident, milestone: super::Milestone::Started, time: injected })
}

/// The probes a verdict is judged on, with their health in `state`.
pub fn judge(state: &State, steady_state: &[String]) -> Verdict {
    let probes: BTreeMap<String, Health> = steady_state
        .iter()
        .map(|p| (p.clone(), state.probes.get(p).map_or(Health::Unknown, |s| s.health)))
        .collect();
    Verdict { deviated: probes.values().any(|h| *h != Health::Up), probes }
}

/// The steady-state probes that are not up: empty means the run may start.
pub fn unsteady(state: &State, steady_state: &[String]) -> Vec<String> {
    let mut bad: BTreeSet<String> = BTreeSet::new();
    for p in steady_state {
        let h = state.probes.get(p).map_or(Health::Unknown, |s| s.health);
        if h != Health::Up {
            bad.insert(format!("{p} is {h}"));
        }
    }
    bad.into_iter().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::library::Library;
    use crate::model::tests::t;
    use crate::model::{stamp, Severity};
    use uuid::Uuid;

    pub(crate) const PRICE_DESYNC: &str = r#"
id = "price-desync"
title = "Prices differ between product page and listing"
briefing = "Our CTO sees different prices"
hypothesis = "Listing and product page agree within 5 minutes"
target = ["search", "listing"]
duration = "20m"
steady_state = ["search", "listing"]
stop_when = "outside_blast_radius_down"

[[phase]]
after = "0s"
inject = { driver = "demo", fault = "price_desync" }

[[phase]]
after = "5m"
inject = { driver = "http", method = "POST", url = "https://user:secret@toxiproxy:8474/proxies/search/toxics?key=k", headers = { Authorization = "Bearer x" } }

[[rollback]]
driver = "demo"
fault = "clear"
"#;

    fn library() -> Library {
        Library { scenarios: vec![parse(PRICE_DESYNC).unwrap().info()], ..Library::default() }
    }

    fn decide_as(s: &State, role: UserRole, intent: Intent) -> Result<Vec<Fact>, Rejection> {
        let lib = library();
        let cx = Context { library: &lib, now: t(0), command_id: Uuid::nil(), role, actor: "vera" };
        s.decide_with(&intent, &cx)
    }

    fn run_as(s: &mut State, intent: Intent) -> Vec<Event> {
        let facts = decide_as(s, UserRole::Villain, intent).unwrap();
        let events = stamp(s.seq + 1, t(s.seq as u32), "vera", UserRole::Villain, Uuid::nil(), facts);
        for e in &events {
            s.apply(e);
        }
        events
    }

    #[test]
    fn a_scenario_file_reads_and_shows_clients_no_secrets() {
        let sc = parse(PRICE_DESYNC).unwrap();
        assert_eq!(sc.phase_offsets(), [0, 300_000]);
        let info = sc.info();
        assert_eq!(info.duration_secs, 1200);
        assert_eq!(info.phases[0].title, "demo price_desync");
        assert_eq!(info.phases[1].title, "POST https://toxiproxy:8474/proxies/search/toxics");
        let json = serde_json::to_string(&info).unwrap();
        for secret in ["secret", "Bearer", "key=k", "user:"] {
            assert!(!json.contains(secret), "{secret} leaks: {json}");
        }
    }

    #[test]
    fn bad_scenario_files_name_their_line_and_field() {
        let cases = [
            (PRICE_DESYNC.replace("duration = \"20m\"", "duration = \"soon\""), "duration", 7),
            (PRICE_DESYNC.replace("after = \"5m\"", "after = \"5 minutes\""), "phase[1].after", 16),
            (PRICE_DESYNC.replace("method = \"POST\"", "method = \"BREW\""), "phase[1].inject.method", 17),
            (PRICE_DESYNC.replace("fault = \"clear\"", "fault = \"\""), "rollback[0].fault", 21),
            (PRICE_DESYNC.replace("after = \"5m\"", "after = \"25m\""), "phase", 7),
            (PRICE_DESYNC.replace("target = [\"search\", \"listing\"]", "target = []"), "target", 6),
        ];
        for (text, field, line) in cases {
            let e = parse(&text).unwrap_err();
            assert_eq!((e.field.as_deref(), e.line), (Some(field), Some(line)), "{e}");
        }
        let e =
            parse(&PRICE_DESYNC.replace("driver = \"demo\", fault", "driver = \"nuke\", fault")).unwrap_err();
        assert_eq!(e.line, Some(13), "{e}");
        let e = parse(&PRICE_DESYNC.replace("briefing", "brefing")).unwrap_err();
        assert!(e.to_string().contains("brefing"), "{e}");
    }

    #[test]
    fn scenario_files_at_their_extremes_are_clear_errors_not_log_bloat() {
        let huge = "x".repeat(1_000_000);
        let many = vec!["\"s\""; 10_000].join(", ");
        let cases = [
            // An id is typed at `:chaos start ID` and printed on every console.
            (PRICE_DESYNC.replace("id = \"price-desync\"", "id = \"a\\u001b[2Jb\""), "id", 2),
            (PRICE_DESYNC.replace("id = \"price-desync\"", "id = \"a\\u0000b\""), "id", 2),
            // Every start copies the scenario's info into the log and every client's state.
            (PRICE_DESYNC.replace("title = \"Prices", &format!("title = \"{huge}")), "title", 3),
            (PRICE_DESYNC.replace("briefing = \"", &format!("briefing = \"{huge}")), "briefing", 4),
            (PRICE_DESYNC.replace("hypothesis = \"", &format!("hypothesis = \"{huge}")), "hypothesis", 5),
            (
                PRICE_DESYNC.replace("target = [\"search\", \"listing\"]", &format!("target = [{many}]")),
                "target",
                6,
            ),
            (
                PRICE_DESYNC.replace("steady_state = [\"search\", \"listing\"]", "steady_state = [\"\"]"),
                "steady_state",
                8,
            ),
            (PRICE_DESYNC.replace("duration = \"20m\"", "duration = \"24h0m0.5s\""), "duration", 7),
            // A rollback that may hang for years is never retried, and halts only time out on it.
            (
                PRICE_DESYNC.replace("headers = {", "timeout = \"2562047h\", headers = {"),
                "phase[1].inject.timeout",
                17,
            ),
        ];
        for (text, field, line) in cases {
            let e = parse(&text).unwrap_err();
            assert_eq!(
                (e.field.as_deref(), e.line),
                (Some(field), Some(line)),
                "{}",
                clip(&e.to_string(), 200)
            );
        }
        // A typo in the rule says what the rule may be.
        let e = parse(&PRICE_DESYNC.replace("\"outside_blast_radius_down\"", "\"outside_blast_radius\""))
            .unwrap_err();
        assert!(e.to_string().contains("outside_blast_radius_down"), "{e}");
        assert_eq!((e.field.as_deref(), e.line), (Some("stop_when"), Some(9)), "{e}");
    }

    #[test]
    fn only_villains_and_admins_drive_chaos() {
        let s = State::default();
        for role in UserRole::ALL {
            for intent in [
                Intent::StartScenario { scenario: "price-desync".into() },
                Intent::StopScenario { run: RunId(1), reason: None },
                Intent::HaltAll { reason: "r".into() },
                Intent::ArmChaos {},
            ] {
                assert_eq!(role.may(&intent), may_drive(*role), "{role} {}", intent.kind());
            }
            for internal in [
                Intent::RecordChaos {
                    run: RunId(1),
                    step: StepKind::Inject,
                    phase: None,
                    driver: "demo".into(),
                    ok: true,
                    output: String::new(),
                },
                Intent::EndScenario { run: RunId(1), cause: StopCause::Duration, reason: None },
                Intent::FinishScenario { run: RunId(1), verdict: None },
            ] {
                assert!(internal.is_internal());
                assert!(!role.may(&internal), "{role} {}", internal.kind());
            }
        }
        assert!(matches!(
            decide_as(&s, UserRole::Villain, Intent::StartScenario { scenario: "nope".into() }),
            Err(Rejection::UnknownScenario(_))
        ));
    }

    #[test]
    fn a_run_goes_from_start_to_verdict_and_links_its_incidents() {
        let mut s = State::default();
        run_as(&mut s, Intent::StartScenario { scenario: "price-desync".into() });
        let r = &s.chaos.runs[&RunId(1)];
        assert_eq!((r.phase, r.ends_at), (RunPhase::Starting, t(0) + Duration::minutes(20)));
        assert!(matches!(
            decide_as(&s, UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() }),
            Err(Rejection::Conflict(why)) if why.contains("already running as RUN-1")
        ));
        let record = |step, ok| Intent::RecordChaos {
            run: RunId(1),
            step,
            phase: Some(0),
            driver: "demo".into(),
            ok,
            output: "x".repeat(MAX_OUTPUT * 2),
        };
        run_as(&mut s, record(StepKind::SteadyState, true));
        run_as(&mut s, record(StepKind::Inject, true));
        assert_eq!((s.chaos.runs[&RunId(1)].phase, s.chaos.runs[&RunId(1)].injected), (RunPhase::Running, 1));
        assert!(s.chaos.runs[&RunId(1)].steps[1].output.chars().count() <= MAX_OUTPUT + 1);
        // A probe on the target goes down and auto-declares: the incident is linked.
        let events = run_as(
            &mut s,
            Intent::RecordProbe {
                probe: "listing".into(),
                health: Health::Down,
                failed: vec![],
                auto_declare: Some(Severity::Sev3),
            },
        );
        assert!(events.iter().any(|e| matches!(e.fact, Fact::RunLinked { run: RunId(1), .. })));
        let inc = s.incidents.values().next().unwrap();
        assert_eq!(inc.caused_by, Some(RunId(1)));
        assert_eq!(s.chaos.runs[&RunId(1)].incidents, [inc.id]);
        // The fault's start is known exactly: the run's first inject is the incident's `started`.
        let injected = s.chaos.runs[&RunId(1)].steps[1].at;
        assert_eq!(inc.milestone(crate::model::Milestone::Started), Some(injected));
        // A per-incident fold gives the same incident (the link is the incident's own event).
        let theirs: Vec<&Event> = events
            .iter()
            .filter(|e| s.touched(e).contains(&inc.id) || e.fact.incident() == Some(inc.id))
            .collect();
        assert_eq!(crate::model::window::fold_incident(inc.id, theirs).as_ref(), Some(&**inc));
        // A person declaring about a target is linked too; about another service, not.
        for (services, linked) in [(vec!["search".to_string()], true), (vec!["payment".to_string()], false)] {
            let events = run_as(
                &mut s,
                Intent::DeclareIncident {
                    title: "t".into(),
                    severity: Severity::Sev2,
                    impact: String::new(),
                    drill: false,
                    services,
                    private: false,
                },
            );
            assert_eq!(events.iter().any(|e| matches!(e.fact, Fact::RunLinked { .. })), linked);
        }
        run_as(&mut s, Intent::StopScenario { run: RunId(1), reason: Some("enough".into()) });
        assert_eq!(s.chaos.runs[&RunId(1)].cause, Some(StopCause::Stopped));
        run_as(&mut s, record(StepKind::Rollback, false));
        assert!(s.chaos.runs[&RunId(1)].rollback_failed.is_some());
        run_as(&mut s, record(StepKind::Rollback, true));
        let verdict = judge(&s, &["search".into(), "listing".into()]);
        assert!(verdict.deviated);
        run_as(&mut s, Intent::FinishScenario { run: RunId(1), verdict: Some(verdict) });
        let r = &s.chaos.runs[&RunId(1)];
        assert_eq!((r.phase, r.rollback_failed.as_deref()), (RunPhase::Ended, None));
        assert!(
            decide_as(&s, UserRole::Villain, Intent::StopScenario { run: RunId(1), reason: None }).is_err()
        );
    }

    #[test]
    fn a_clock_stepped_back_before_the_inject_links_without_a_started_milestone() {
        let mut s = State::default();
        run_as(&mut s, Intent::StartScenario { scenario: "price-desync".into() });
        let inject = Intent::RecordChaos {
            run: RunId(1),
            step: StepKind::Inject,
            phase: Some(0),
            driver: "demo".into(),
            ok: true,
            output: String::new(),
        };
        run_as(&mut s, inject);
        let injected = s.chaos.runs[&RunId(1)].steps[0].at;
        let declare = Intent::DeclareIncident {
            title: "t".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: false,
            services: vec!["search".into()],
            private: false,
        };
        let lib = library();
        let at = |now| Context {
            library: &lib,
            now,
            command_id: Uuid::nil(),
            role: UserRole::Commander,
            actor: "vera",
        };
        let started = |facts: &[Fact]| facts.iter().any(|f| matches!(f, Fact::MilestoneSet { .. }));
        // Within the slack every milestone has, the inject is the start; a clock two days behind
        // it would record a start after its own now, which no milestone may be.
        let facts = s.decide_with(&declare, &at(injected - Duration::hours(1))).unwrap();
        assert!(started(&facts));
        let facts = s.decide_with(&declare, &at(injected - Duration::days(2))).unwrap();
        assert!(facts.iter().any(|f| matches!(f, Fact::RunLinked { .. })) && !started(&facts), "{facts:?}");
    }

    #[test]
    fn a_run_that_ends_with_its_rollback_failed_stays_red() {
        let mut s = State::default();
        run_as(&mut s, Intent::StartScenario { scenario: "price-desync".into() });
        let failed = Intent::RecordChaos {
            run: RunId(1),
            step: StepKind::Rollback,
            phase: None,
            driver: String::new(),
            ok: false,
            output: "could not be stopped, check by hand: network: engine gone".into(),
        };
        run_as(&mut s, failed);
        run_as(&mut s, Intent::FinishScenario { run: RunId(1), verdict: None });
        let r = &s.chaos.runs[&RunId(1)];
        assert_eq!(r.phase, RunPhase::Ended);
        assert!(r.rollback_failed.as_deref().is_some_and(|e| e.contains("check by hand")));
    }

    #[test]
    fn halt_all_disarms_until_armed() {
        let mut s = State::default();
        run_as(&mut s, Intent::StartScenario { scenario: "price-desync".into() });
        run_as(&mut s, Intent::HaltAll { reason: "customers hurt".into() });
        assert_eq!(s.chaos.runs[&RunId(1)].cause, Some(StopCause::Halted));
        assert!(s.chaos.disarmed.is_some());
        let start = Intent::StartScenario { scenario: "price-desync".into() };
        assert!(
            matches!(decide_as(&s, UserRole::Villain, start.clone()), Err(Rejection::Conflict(why)) if why.contains("disarmed"))
        );
        run_as(&mut s, Intent::HaltAll { reason: "again".into() });
        run_as(&mut s, Intent::ArmChaos {});
        assert!(decide_as(&s, UserRole::Villain, Intent::ArmChaos {}).is_err());
        // Still running (stopping) as RUN-1: a second run waits until it ended.
        assert!(decide_as(&s, UserRole::Villain, start.clone()).is_err());
        run_as(&mut s, Intent::FinishScenario { run: RunId(1), verdict: None });
        run_as(&mut s, start);
        assert!(s.chaos.runs.contains_key(&RunId(2)));
    }

    /// Chaos facts as this version writes them: logs are kept for years, so these bodies must
    /// always read as these facts (a change that breaks one breaks every log with it).
    #[test]
    fn chaos_facts_read_as_written_today() {
        let env = r#""seq":9,"at":"2026-11-22T10:00:00Z","actor":"warroom","role":"admin","command_id":"00000000-0000-0000-0000-000000000000""#;
        let bodies = [
            r#""kind":"scenario_started","run":"RUN-1","scenario":{"id":"price-desync","title":"Prices","target":["search"],"duration_secs":1200,"stop_when":"never","phases":[{"at_secs":0,"title":"demo price_desync","driver":"demo"}]},"ends_at":"2026-11-22T10:20:00Z""#,
            r#""kind":"scenario_stopping","run":"RUN-1","cause":"stop_condition","reason":"payment went down""#,
            r#""kind":"chaos_step","run":"RUN-1","step":"inject","phase":0,"driver":"demo","ok":true,"output":"indexer stopped""#,
            r#""kind":"chaos_step","run":"RUN-1","step":"rollback","ok":false,"output":"500""#,
            r#""kind":"scenario_ended","run":"RUN-1","verdict":{"deviated":true,"probes":{"search":"down"}}"#,
            r#""kind":"chaos_halted","reason":"customers hurt","runs":["RUN-1"]"#,
            r#""kind":"chaos_armed""#,
            r#""kind":"run_linked","incident":"INC-3","run":"RUN-1","scenario":"price-desync""#,
        ];
        let mut s = State::default();
        for body in bodies {
            let json = format!("{{{env},{body}}}");
            let e: Event = serde_json::from_str(&json).unwrap_or_else(|err| panic!("{json}: {err}"));
            assert!(!matches!(e.fact, Fact::Unknown(_)), "{json} read as unknown");
            let back = serde_json::to_value(&e).unwrap();
            assert_eq!(back, serde_json::from_str::<serde_json::Value>(&json).unwrap(), "{json}");
            s.seq = 0;
            s.apply(&e);
        }
        let r = &s.chaos.runs[&RunId(1)];
        assert_eq!((r.phase, r.cause, r.injected), (RunPhase::Ended, Some(StopCause::StopCondition), 1));
        assert!(s.chaos.disarmed.is_none(), "armed again after the halt");
    }

    #[test]
    fn stop_conditions() {
        let target = vec!["search".to_string()];
        assert!(StopWhen::Default.fires(&target, "payment"));
        assert!(!StopWhen::Default.fires(&target, "search"));
        assert!(!StopWhen::Rule(StopRule::Never).fires(&target, "payment"));
        assert!(StopWhen::Probes(vec!["stock".into()]).fires(&target, "stock"));
        let sc = parse(
            &PRICE_DESYNC.replace("stop_when = \"outside_blast_radius_down\"", "stop_when = [\"payment\"]"),
        )
        .unwrap();
        assert_eq!(sc.stop_when, StopWhen::Probes(vec!["payment".into()]));
        assert!(parse(&PRICE_DESYNC.replace("\"outside_blast_radius_down\"", "\"sometimes\"")).is_err());
        assert_eq!("RUN-4".parse::<RunId>(), Ok(RunId(4)));
        assert!("RUN-0".parse::<RunId>().is_err());
    }
}
