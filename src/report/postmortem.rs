//! A postmortem rendered as Markdown through a template (the built-in `assets/postmortem.md`,
//! or `postmortem.md` in the config dir): the team's document plus what the log knows.
//!
//! Everything the template sees is a [`Report`], built from a full incident, the state's chaos
//! runs and game days, the server's settings and a "now" (for overdue action items). The same
//! `Report` is what `warroom postmortem --json` prints, so its field names are a stable API.
//! Other people's text is escaped as it is printed (see [`super::inline`]), never trusted to
//! be plain, so a note cannot forge a heading or a table row of the postmortem.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::model::chaos::{RunId, StepKind};
use crate::model::comms::Delivery;
use crate::model::incident::{format_duration, Milestone, SYSTEM_ACTOR};
use crate::model::postmortem::{tagged_notes, Settings};
use crate::model::{EntryKind, Incident, State};

/// The built-in template, shipped in the binary.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../assets/postmortem.md");
/// The file in the config dir that replaces the built-in template.
pub const TEMPLATE_FILE: &str = "postmortem.md";
/// Every time in a postmortem, in UTC.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// What a postmortem is rendered from.
pub struct Input<'a> {
    /// The incident in full (a closed one fetched with `GET /api/v1/incidents/{id}`).
    pub incident: &'a Incident,
    /// For the chaos runs linked to it and its game day.
    pub state: &'a State,
    /// The server's `[postmortem]` settings (failure classes).
    pub settings: &'a Settings,
    /// Action items past their due date at this time are OVERDUE.
    pub now: DateTime<Utc>,
}

/// A template that cannot be read, compiled or rendered: the file and line, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    pub detail: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.detail),
            None => write!(f, "{}: {}", self.file, self.detail),
        }
    }
}

impl std::error::Error for TemplateError {}

/// A postmortem template: its source and the name errors give it (a path, for a user's file).
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    source: String,
}

impl Template {
    /// The template shipped in the binary.
    pub fn builtin() -> Template {
        Template { name: "postmortem.md (built in)".into(), source: DEFAULT_TEMPLATE.into() }
    }

    /// A template file; it is compiled at once so a broken one is reported before any work.
    pub fn from_file(path: &Path) -> Result<Template, TemplateError> {
        let source = std::fs::read_to_string(path).map_err(|e| TemplateError {
            file: path.display().to_string(),
            line: None,
            detail: format!("cannot read it: {e}"),
        })?;
        Template::from_source(&path.display().to_string(), source)
    }

    /// A template from text, named `name` in errors; compiled at once.
    pub fn from_source(name: &str, source: String) -> Result<Template, TemplateError> {
        let template = Template { name: name.to_string(), source };
        template.environment()?;
        Ok(template)
    }

    /// `postmortem.md` in the config dir `dir` when there is one, else the built-in.
    pub fn for_config_dir(dir: &Path) -> Result<Template, TemplateError> {
        let path = dir.join(TEMPLATE_FILE);
        if path.exists() {
            Template::from_file(&path)
        } else {
            Ok(Template::builtin())
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, e: &minijinja::Error) -> TemplateError {
        let detail = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        TemplateError { file: self.name.clone(), line: e.line(), detail }
    }

    /// An environment holding this template, with Markdown escaping for every `{{ … }}`.
    fn environment(&self) -> Result<Environment<'_>, TemplateError> {
        let mut env = Environment::new();
        // Block tags take their line with them, so a template reads like the Markdown it
        // writes; the file's last newline is kept.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| self.error(&e))?;
        env.set_syntax(syntax);
        // A misspelt field is an error naming its line, not an empty cell nobody notices;
        // `{% if field %}` on a missing one stays allowed.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_auto_escape_callback(|_| AutoEscape::Custom("markdown".into()));
        env.set_formatter(|out, _state, value| {
            let text = if value.is_safe() {
                value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())
            } else if value.is_none() || value.is_undefined() {
                String::new()
            } else {
                super::inline(&value.to_string())
            };
            out.write_str(&text).map_err(minijinja::Error::from)
        });
        // Several lines of a team's text, kept as lines but escaped line by line.
        env.add_filter("block", |text: &str| Value::from_safe_string(super::block(text)));
        env.add_template("postmortem", &self.source).map_err(|e| self.error(&e))?;
        Ok(env)
    }
}

/// The incident as the postmortem's header shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentInfo {
    pub id: String,
    pub title: String,
    pub severity: String,
    /// The severity it was declared with (the history says how it changed).
    pub declared_severity: String,
    pub status: String,
    /// Why it closed: resolved, duplicate, false_positive, cancelled.
    pub closure: Option<String>,
    pub drill: bool,
    pub private: bool,
    pub impact: String,
    pub declared_by: String,
    pub declared_at: String,
    pub services: Vec<String>,
    /// The game day it is a drill of.
    pub gameday: Option<GamedayInfo>,
    /// The hero team whose drill it is.
    pub team: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GamedayInfo {
    pub id: String,
    /// Absent when the reader's state does not hold the game day.
    pub name: Option<String>,
    pub style: Option<String>,
}

/// What the team wrote; or, before anyone wrote it, a draft from the tagged notes.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// No postmortem yet: `well`, `badly` and `lucky` are the notes tagged `#well`, `#badly`
    /// and `#lucky`, and the rest is empty.
    pub draft: bool,
    /// The latest revision, 0 when none.
    pub revision: u32,
    pub revisions: Vec<RevisionRow>,
    pub summary: String,
    pub failure_class: Option<String>,
    pub factors: String,
    pub well: Vec<String>,
    pub badly: Vec<String>,
    pub lucky: Vec<String>,
    /// The server's failure classes, for a template that lists them.
    pub failure_classes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevisionRow {
    pub revision: u32,
    pub at: String,
    pub by: String,
}

/// A response metric from two milestones; `value` is `—` when either is unknown.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    /// `time_to_detect`, `time_to_acknowledge`, `time_to_mitigate`, `time_to_recover`.
    pub name: String,
    pub label: String,
    pub value: String,
    pub seconds: Option<i64>,
    /// The milestones it is measured between.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MilestoneRow {
    pub milestone: String,
    pub at: String,
}

/// A change of severity or status, from the timeline (the declaration first).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub at: String,
    pub by: String,
    /// `declared`, `severity` or `status`.
    pub kind: String,
    pub from: Option<String>,
    pub to: String,
    /// A reopening's or an early closure's reason.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleRow {
    pub role: String,
    pub person: String,
}

/// A role holder or anyone who acted on the timeline (the server's own actor aside).
#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    pub name: String,
    pub roles: Vec<String>,
    /// Timeline entries they wrote.
    pub entries: usize,
}

/// A message sent about the incident: on which channel, to which audience, and what became
/// of it.
#[derive(Debug, Clone, Serialize)]
pub struct Communication {
    pub at: String,
    pub by: String,
    pub channel: String,
    pub audience: String,
    pub text: String,
    /// `pending`, `delivered`, `failed`, `withheld` or `sent_outside`.
    pub delivery: String,
    /// The delivery in words: `delivered 2026-11-22 10:12:03 (200 OK)`.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeChange {
    pub at: String,
    pub probe: String,
    pub health: String,
    pub failed: Vec<String>,
}

/// A chaos run linked to the incident. In a game day that hides its chaos the link is made
/// (and so the run listed) only at the debrief, when the scenario is revealed.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosRun {
    pub run: String,
    pub scenario: String,
    /// Absent when the reader's state does not hold the run.
    pub title: Option<String>,
    pub started_by: Option<String>,
    /// When its first fault was injected.
    pub injected_at: Option<String>,
    pub ended_at: Option<String>,
    /// `deviated` (the steady state broke) or `held`; absent while it runs.
    pub verdict: Option<String>,
    /// The steady-state probes it was judged on, `name: health`.
    pub probes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// The timeline's tag: note, status, severity, role, message, delivered, failed, health,
    /// chaos, …
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionRow {
    pub item: u32,
    pub title: String,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub due: Option<String>,
    pub link: Option<String>,
    /// `done`, `open` or `overdue`.
    pub status: String,
    pub done_at: Option<String>,
    pub done_by: Option<String>,
    pub added_at: String,
    pub added_by: String,
}

/// Everything a postmortem template sees (and `--json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub incident: IncidentInfo,
    /// The "now" overdue items were judged at.
    pub generated_at: String,
    pub postmortem: Written,
    pub metrics: Vec<Metric>,
    pub milestones: Vec<MilestoneRow>,
    pub history: Vec<Change>,
    pub roles: Vec<RoleRow>,
    pub participants: Vec<Participant>,
    pub communications: Vec<Communication>,
    pub probes: Vec<ProbeChange>,
    pub chaos: Vec<ChaosRun>,
    pub timeline: Vec<Entry>,
    pub action_items: Vec<ActionRow>,
}

fn time(t: DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

/// The [`Report`] of `input`: what the template renders.
pub fn report(input: &Input) -> Report {
    let inc = input.incident;
    Report {
        incident: incident_info(inc, input.state),
        generated_at: time(input.now),
        postmortem: written(inc, input.settings),
        metrics: metrics(inc),
        milestones: inc
            .milestones
            .iter()
            .map(|(m, at)| MilestoneRow { milestone: m.as_str().into(), at: time(*at) })
            .collect(),
        history: history(inc),
        roles: inc
            .roles
            .iter()
            .map(|(role, person)| RoleRow { role: role.as_str().into(), person: person.clone() })
            .collect(),
        participants: participants(inc),
        communications: communications(inc),
        probes: inc
            .timeline
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::Health { probe, health, failed } => Some(ProbeChange {
                    at: time(e.at),
                    probe: probe.clone(),
                    health: health.as_str().into(),
                    failed: failed.clone(),
                }),
                _ => None,
            })
            .collect(),
        chaos: chaos(inc, input.state),
        timeline: timeline(inc, input.state),
        action_items: inc
            .actions
            .iter()
            .map(|a| ActionRow {
                item: a.item,
                title: a.title.clone(),
                owner: a.owner.clone(),
                due: a.due.map(|d| d.format("%Y-%m-%d").to_string()),
                link: a.link.clone(),
                status: if a.done.is_some() {
                    "done"
                } else if a.is_overdue(input.now) {
                    "overdue"
                } else {
                    "open"
                }
                .into(),
                done_at: a.done.as_ref().map(|d| time(d.at)),
                done_by: a.done.as_ref().map(|d| d.by.clone()),
                added_at: time(a.added_at),
                added_by: a.added_by.clone(),
            })
            .collect(),
    }
}

/// Renders `input` through `template` into Markdown.
pub fn render(input: &Input, template: &Template) -> Result<String, TemplateError> {
    render_report(&report(input), template)
}

/// Renders an already built [`Report`].
pub fn render_report(report: &Report, template: &Template) -> Result<String, TemplateError> {
    let env = template.environment()?;
    let compiled = env.get_template("postmortem").map_err(|e| template.error(&e))?;
    compiled.render(Value::from(minijinja::value::Serde(report))).map_err(|e| template.error(&e))
}

fn incident_info(inc: &Incident, state: &State) -> IncidentInfo {
    let declared_severity = inc
        .timeline
        .iter()
        .find_map(|e| match &e.kind {
            EntryKind::Declared { severity, .. } => Some(*severity),
            _ => None,
        })
        .unwrap_or(inc.severity);
    IncidentInfo {
        id: inc.id.to_string(),
        title: inc.title.clone(),
        severity: inc.severity.to_string(),
        declared_severity: declared_severity.to_string(),
        status: inc.status.as_str().into(),
        closure: inc.closure.map(|c| c.to_string()),
        drill: inc.drill,
        private: inc.private,
        impact: inc.impact.clone(),
        declared_by: inc.declared_by.clone(),
        declared_at: time(inc.declared_at()),
        services: inc.services.clone(),
        gameday: inc.gameday.map(|g| {
            let known = state.gamedays.0.get(&g);
            GamedayInfo {
                id: g.to_string(),
                name: known.map(|d| d.name.clone()),
                style: known.map(|d| d.style.as_str().into()),
            }
        }),
        team: inc.team.clone(),
    }
}

fn written(inc: &Incident, settings: &Settings) -> Written {
    let failure_classes = settings.failure_classes.clone();
    match &inc.postmortem {
        Some(pm) => {
            let d = &pm.document;
            Written {
                draft: false,
                revision: pm.revision(),
                revisions: pm
                    .revisions
                    .iter()
                    .map(|r| RevisionRow { revision: r.revision, at: time(r.at), by: r.by.clone() })
                    .collect(),
                summary: d.summary.clone(),
                failure_class: d.failure_class.clone(),
                factors: d.factors.clone(),
                well: d.well.clone(),
                badly: d.badly.clone(),
                lucky: d.lucky.clone(),
                failure_classes,
            }
        }
        None => {
            let d = tagged_notes(inc);
            Written {
                draft: true,
                revision: 0,
                revisions: Vec::new(),
                summary: String::new(),
                failure_class: None,
                factors: String::new(),
                well: d.well,
                badly: d.badly,
                lucky: d.lucky,
                failure_classes,
            }
        }
    }
}

fn metrics(inc: &Incident) -> Vec<Metric> {
    let d = inc.durations();
    [
        ("time_to_detect", "Time to detect", d.time_to_detect, Milestone::Started, Milestone::Detected),
        (
            "time_to_acknowledge",
            "Time to acknowledge",
            d.time_to_acknowledge,
            Milestone::Declared,
            Milestone::Acknowledged,
        ),
        (
            "time_to_mitigate",
            "Time to mitigate",
            d.time_to_mitigate,
            Milestone::Declared,
            Milestone::Mitigated,
        ),
        ("time_to_recover", "Time to recover", d.time_to_recover, Milestone::Started, Milestone::Recovered),
    ]
    .into_iter()
    .map(|(name, label, value, from, to)| Metric {
        name: name.into(),
        label: label.into(),
        value: value.map_or_else(|| "—".to_string(), format_duration),
        seconds: value.map(|v| v.num_seconds()),
        from: from.as_str().into(),
        to: to.as_str().into(),
    })
    .collect()
}

fn history(inc: &Incident) -> Vec<Change> {
    inc.timeline
        .iter()
        .filter_map(|e| {
            let (kind, from, to, reason) = match &e.kind {
                EntryKind::Declared { severity, .. } => {
                    ("declared", None, format!("{severity} declared"), None)
                }
                EntryKind::SeverityChange { from, to } => {
                    ("severity", Some(from.to_string()), to.to_string(), None)
                }
                EntryKind::StatusChange { from, to, reason } => {
                    ("status", Some(from.as_str().to_string()), to.as_str().to_string(), reason.clone())
                }
                _ => return None,
            };
            Some(Change { at: time(e.at), by: e.actor.clone(), kind: kind.into(), from, to, reason })
        })
        .collect()
}

/// Role holders and everyone who wrote on the timeline, in order of first appearance (role
/// holders who never acted last); the server's own actor is not a participant.
fn participants(inc: &Incident) -> Vec<Participant> {
    let mut order: Vec<String> = Vec::new();
    let mut entries: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &inc.timeline {
        if e.actor == SYSTEM_ACTOR || e.actor.is_empty() {
            continue;
        }
        let n = entries.entry(e.actor.as_str()).or_insert(0);
        if *n == 0 {
            order.push(e.actor.clone());
        }
        *n += 1;
    }
    for person in inc.roles.values() {
        if !order.contains(person) {
            order.push(person.clone());
        }
    }
    order
        .into_iter()
        .map(|name| Participant {
            roles: inc
                .roles
                .iter()
                .filter(|(_, p)| **p == name)
                .map(|(r, _)| r.as_str().to_string())
                .collect(),
            entries: entries.get(name.as_str()).copied().unwrap_or(0),
            name,
        })
        .collect()
}

fn communications(inc: &Incident) -> Vec<Communication> {
    inc.messages
        .iter()
        .map(|m| {
            let (delivery, outcome) = match &m.delivery {
                Delivery::Pending { attempts, error } => (
                    "pending",
                    match error {
                        Some(e) => format!("pending after {} ({e})", attempts_word(*attempts)),
                        None => "pending".to_string(),
                    },
                ),
                Delivery::Delivered { at, detail } if detail.is_empty() => {
                    ("delivered", format!("delivered {}", time(*at)))
                }
                Delivery::Delivered { at, detail } => {
                    ("delivered", format!("delivered {} ({detail})", time(*at)))
                }
                Delivery::Failed { attempts, error } => {
                    ("failed", format!("FAILED after {} ({error})", attempts_word(*attempts)))
                }
                Delivery::Withheld { at, reason } => {
                    ("withheld", format!("withheld {} ({reason})", time(*at)))
                }
                Delivery::SentOutside { at } => {
                    ("sent_outside", format!("sent outside warroom {}", time(*at)))
                }
            };
            Communication {
                at: time(m.at),
                by: m.by.clone(),
                channel: m.channel.clone(),
                audience: m.audience.label().into(),
                text: m.text.clone(),
                delivery: delivery.into(),
                outcome,
            }
        })
        .collect()
}

fn attempts_word(n: u32) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}

/// The runs the log linked to the incident (its `caused_by` entries), in order.
fn linked_runs(inc: &Incident) -> Vec<(RunId, String)> {
    let mut runs: Vec<(RunId, String)> = Vec::new();
    for e in &inc.timeline {
        if let EntryKind::CausedBy { run, scenario } = &e.kind {
            if !runs.iter().any(|(r, _)| r == run) {
                runs.push((*run, scenario.clone()));
            }
        }
    }
    runs
}

fn verdict_word(deviated: bool) -> &'static str {
    if deviated {
        "deviated"
    } else {
        "held"
    }
}

fn chaos(inc: &Incident, state: &State) -> Vec<ChaosRun> {
    linked_runs(inc)
        .into_iter()
        .map(|(id, scenario)| {
            let run = state.chaos.runs.get(&id);
            ChaosRun {
                run: id.to_string(),
                scenario,
                title: run.map(|r| r.scenario.title.clone()),
                started_by: run.map(|r| r.started_by.clone()),
                injected_at: run.and_then(|r| {
                    r.steps.iter().find(|s| s.step == StepKind::Inject && s.ok).map(|s| time(s.at))
                }),
                ended_at: run.and_then(|r| r.ended_at).map(time),
                verdict: run.and_then(|r| r.verdict.as_ref()).map(|v| verdict_word(v.deviated).to_string()),
                probes: run
                    .and_then(|r| r.verdict.as_ref())
                    .map(|v| v.probes.iter().map(|(p, h)| format!("{p}: {h}")).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn timeline(inc: &Incident, state: &State) -> Vec<Entry> {
    inc.timeline
        .iter()
        .map(|e| {
            let text = match &e.kind {
                // A run's entry says how it ended, when this reader knows.
                EntryKind::CausedBy { run, scenario } => {
                    let verdict = state
                        .chaos
                        .runs
                        .get(run)
                        .and_then(|r| r.verdict.as_ref())
                        .map(|v| format!(": hypothesis {}", verdict_word(v.deviated)))
                        .unwrap_or_default();
                    format!("caused by chaos run {run} ({scenario}){verdict}")
                }
                EntryKind::Message { channel, audience, text } => {
                    format!("to {} on {channel}: {text}", audience.label())
                }
                other => other.summary(),
            };
            Entry { seq: e.seq, at: time(e.at), actor: e.actor.clone(), kind: e.kind.tag().into(), text }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fact, IncidentId, Severity, UserRole};

    fn declared(title: &str) -> State {
        let mut s = State::default();
        let fact = Fact::IncidentDeclared {
            incident: IncidentId(1),
            title: title.into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: false,
            gameday: None,
            team: None,
        };
        for e in crate::model::stamp(
            1,
            DateTime::UNIX_EPOCH,
            "a",
            UserRole::Commander,
            uuid::Uuid::nil(),
            vec![fact],
        ) {
            s.apply(&e);
        }
        s
    }

    #[test]
    fn a_broken_template_names_its_file_and_line() {
        let err = Template::from_source("/home/me/postmortem.md", "# {{ incident.id }}\n\n{% if %}\n".into())
            .unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("/home/me/postmortem.md", Some(3)), "{err}");
        assert!(err.to_string().starts_with("/home/me/postmortem.md:3: syntax error"), "{err}");
        // A misspelt field is found when rendering, with its line too.
        let typo = Template::from_source("t.md", "ok\n{{ incident.titel }}\n".into()).unwrap();
        let state = declared("t");
        let settings = Settings::default();
        let incident = state.incident(IncidentId(1)).unwrap();
        let input = Input { incident, state: &state, settings: &settings, now: DateTime::UNIX_EPOCH };
        let err = render(&input, &typo).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("t.md", Some(2)), "{err}");
        let missing = Template::from_file(Path::new("/nonexistent/postmortem.md")).unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/postmortem.md: cannot read it"), "{missing}");
    }

    #[test]
    fn every_printed_value_is_escaped_and_the_built_in_template_renders() {
        let state = declared("# Forged | title");
        let settings = Settings::default();
        let incident = state.incident(IncidentId(1)).unwrap();
        let input = Input { incident, state: &state, settings: &settings, now: DateTime::UNIX_EPOCH };
        let t = Template::from_source(
            "t.md",
            "{{ incident.title }}|{{ incident.closure }}|{{ postmortem.draft }}".into(),
        )
        .unwrap();
        assert_eq!(render(&input, &t).unwrap(), "\\# Forged \\| title||True");
        let md = render(&input, &Template::builtin()).unwrap();
        assert!(md.starts_with("# Postmortem: INC-1 \\# Forged \\| title\n"), "{md}");
        assert!(md.contains("**Draft**"), "{md}");
    }
}
