//! Intents: what a user asks for. [`super::State::decide`] turns one into facts or refuses it
//! with a reason, against the current state: the same rules on server and client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::incident::{IncidentId, Milestone, Role, Severity, Status};
use super::playbook::Audience;

pub const MAX_TITLE: usize = 200;
pub const MAX_TEXT: usize = 16 * 1024;
pub const MAX_NAME: usize = 100;
/// Services one incident may name: enough for a cascade, not a dump of the service catalogue.
pub const MAX_SERVICES: usize = 32;
/// Failed conditions one probe change may carry (a probe has a handful of conditions).
pub const MAX_FAILED: usize = 32;
/// One failed condition or delivery detail: the server's own words, bounded because they
/// quote what a probed service or a notified receiver sent back.
pub const MAX_DETAIL: usize = 1024;
/// How far after the server's clock a milestone may lie: milestones record what already
/// happened, so only clock skew and time-zone slips can put one in the future.
pub const MILESTONE_SLACK: chrono::TimeDelta = chrono::TimeDelta::days(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    DeclareIncident {
        title: String,
        severity: Severity,
        #[serde(default)]
        impact: String,
        #[serde(default)]
        drill: bool,
        /// Services (probe names) this incident is about.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        services: Vec<String>,
        /// Visible only to its members and admins (a security incident). Skipped when false
        /// so the digests of commands from before private incidents stay the same.
        #[serde(default, skip_serializing_if = "super::is_false")]
        private: bool,
    },
    /// Let `person` see a private incident (its commander or an admin only).
    AddMember {
        incident: IncidentId,
        person: String,
    },
    /// Stop `person` seeing a private incident, unless they declared it or hold a role in it.
    RemoveMember {
        incident: IncidentId,
        person: String,
    },
    AddNote {
        incident: IncidentId,
        text: String,
    },
    SetStatus {
        incident: IncidentId,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    SetSeverity {
        incident: IncidentId,
        severity: Severity,
    },
    AssignRole {
        incident: IncidentId,
        role: Role,
        person: String,
    },
    /// Record when something happened, e.g. when the fault really started.
    SetMilestone {
        incident: IncidentId,
        milestone: Milestone,
        time: DateTime<Utc>,
    },
    /// Attach (or switch to) a playbook from the server's library.
    AttachPlaybook {
        incident: IncidentId,
        playbook: String,
    },
    TickStep {
        incident: IncidentId,
        step: String,
    },
    UntickStep {
        incident: IncidentId,
        step: String,
    },
    AssignStep {
        incident: IncidentId,
        step: String,
        person: String,
    },
    /// Send a message on one of the server's channels; delivery is recorded as it happens.
    SendMessage {
        incident: IncidentId,
        channel: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The public status this update states; absent: the incident's, when it is sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<super::comms::PublicStatus>,
    },
    /// Push an audience's next update back; logged like everything else.
    SnoozeClock {
        incident: IncidentId,
        audience: Audience,
        minutes: u32,
    },
    /// Override a status page component (or `null` to follow its probe again).
    SetComponent {
        component: String,
        status: Option<super::incident::ComponentStatus>,
    },
    /// The server's probe runner: a probe's health changed. Never accepted from a client.
    RecordProbe {
        probe: String,
        health: super::probe::Health,
        failed: Vec<String>,
        /// Declare an incident of this severity if none is linked to the service.
        auto_declare: Option<Severity>,
    },
    /// The server's own record of a delivery attempt. Never accepted from a client.
    RecordDelivery {
        incident: IncidentId,
        message: uuid::Uuid,
        ok: bool,
        detail: String,
        /// On failure: give up (true) or retry later (false).
        #[serde(default)]
        last: bool,
    },
    /// Start a scenario from the server's catalogue (villains, admins). Only its id: what it
    /// does comes from the server's own files.
    StartScenario {
        scenario: String,
    },
    /// End a run early: it is rolled back.
    StopScenario {
        run: super::chaos::RunId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Roll back every run at once and disarm: nothing starts until `arm_chaos`.
    HaltAll {
        reason: String,
    },
    ArmChaos {},
    /// The server's chaos runner: a step it took. Never accepted from a client.
    RecordChaos {
        run: super::chaos::RunId,
        step: super::chaos::StepKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<usize>,
        #[serde(default)]
        driver: String,
        ok: bool,
        #[serde(default)]
        output: String,
    },
    /// The server's chaos runner ends a run by itself (duration, stop condition, dead man,
    /// shutdown, restart). Never accepted from a client.
    EndScenario {
        run: super::chaos::RunId,
        cause: super::chaos::StopCause,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The server's chaos runner: rolled back, with the verdict. Never accepted from a client.
    FinishScenario {
        run: super::chaos::RunId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<super::chaos::Verdict>,
    },
    /// A game day (the game master, an admin): planned until started.
    CreateGameday {
        name: String,
        style: super::gameday::Style,
    },
    AddTeam {
        gameday: super::gameday::GameDayId,
        team: String,
    },
    /// A hero joins a team (themselves; the game master may put anyone in one).
    JoinTeam {
        gameday: super::gameday::GameDayId,
        team: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<String>,
    },
    /// A scenario from the catalogue for the day, with its briefing, the villains' note and
    /// its par times; hidden from heroes until debrief.
    PlanScenario {
        gameday: super::gameday::GameDayId,
        scenario: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        briefing: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        par_detect_minutes: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        par_mitigate_minutes: Option<u32>,
        /// Steady-state probe → weight (0–10) in the resilience score.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        weights: std::collections::BTreeMap<String, u8>,
    },
    StartGameday {
        gameday: super::gameday::GameDayId,
    },
    /// Help for a team, about one planned scenario (`#n`) or in general; costs points.
    GiveHint {
        gameday: super::gameday::GameDayId,
        team: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<u32>,
        text: String,
    },
    /// A villain saw a team's mitigation of scenario `#plan` work.
    ConfirmMitigation {
        gameday: super::gameday::GameDayId,
        team: String,
        plan: u32,
    },
    /// To debrief: everything hidden is revealed to everyone.
    EndGameday {
        gameday: super::gameday::GameDayId,
    },
    FinishGameday {
        gameday: super::gameday::GameDayId,
    },
    /// Write (a new revision of) an incident's postmortem.
    WritePostmortem {
        incident: IncidentId,
        document: super::postmortem::Document,
        /// The revision the writer started from (0: none yet); absent: overwrite whatever
        /// is there. A stale base is refused so no edit is silently lost.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<u32>,
    },
    AddActionItem {
        incident: IncidentId,
        title: String,
        owner: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<chrono::NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    CompleteActionItem {
        incident: IncidentId,
        item: u32,
    },
    /// The server's record of posting a kick-off message. Never accepted from a client.
    RecordKickoff {
        gameday: super::gameday::GameDayId,
        plan: u32,
        ok: bool,
        detail: String,
        #[serde(default)]
        last: bool,
    },
}

impl Intent {
    pub fn kind(&self) -> &'static str {
        match self {
            Intent::DeclareIncident { .. } => "declare_incident",
            Intent::AddMember { .. } => "add_member",
            Intent::RemoveMember { .. } => "remove_member",
            Intent::AddNote { .. } => "add_note",
            Intent::SetStatus { .. } => "set_status",
            Intent::SetSeverity { .. } => "set_severity",
            Intent::AssignRole { .. } => "assign_role",
            Intent::SetMilestone { .. } => "set_milestone",
            Intent::AttachPlaybook { .. } => "attach_playbook",
            Intent::TickStep { .. } => "tick_step",
            Intent::UntickStep { .. } => "untick_step",
            Intent::AssignStep { .. } => "assign_step",
            Intent::SendMessage { .. } => "send_message",
            Intent::SnoozeClock { .. } => "snooze_clock",
            Intent::RecordDelivery { .. } => "record_delivery",
            Intent::SetComponent { .. } => "set_component",
            Intent::RecordProbe { .. } => "record_probe",
            Intent::StartScenario { .. } => "start_scenario",
            Intent::StopScenario { .. } => "stop_scenario",
            Intent::HaltAll { .. } => "halt_all",
            Intent::ArmChaos {} => "arm_chaos",
            Intent::RecordChaos { .. } => "record_chaos",
            Intent::EndScenario { .. } => "end_scenario",
            Intent::FinishScenario { .. } => "finish_scenario",
            Intent::CreateGameday { .. } => "create_gameday",
            Intent::AddTeam { .. } => "add_team",
            Intent::JoinTeam { .. } => "join_team",
            Intent::PlanScenario { .. } => "plan_scenario",
            Intent::StartGameday { .. } => "start_gameday",
            Intent::GiveHint { .. } => "give_hint",
            Intent::ConfirmMitigation { .. } => "confirm_mitigation",
            Intent::EndGameday { .. } => "end_gameday",
            Intent::FinishGameday { .. } => "finish_gameday",
            Intent::RecordKickoff { .. } => "record_kickoff",
            Intent::WritePostmortem { .. } => "write_postmortem",
            Intent::AddActionItem { .. } => "add_action_item",
            Intent::CompleteActionItem { .. } => "complete_action_item",
        }
    }

    /// Intents only the server itself may issue (its notifier, its probes, its chaos runner).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Intent::RecordDelivery { .. }
                | Intent::RecordProbe { .. }
                | Intent::RecordChaos { .. }
                | Intent::EndScenario { .. }
                | Intent::FinishScenario { .. }
                | Intent::RecordKickoff { .. }
        )
    }

    /// Chaos controls and the runner's records.
    pub fn is_chaos(&self) -> bool {
        matches!(
            self,
            Intent::StartScenario { .. }
                | Intent::StopScenario { .. }
                | Intent::HaltAll { .. }
                | Intent::ArmChaos {}
                | Intent::RecordChaos { .. }
                | Intent::EndScenario { .. }
                | Intent::FinishScenario { .. }
        )
    }

    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Intent::DeclareIncident { .. }
            | Intent::SetComponent { .. }
            | Intent::RecordProbe { .. }
            | Intent::StartScenario { .. }
            | Intent::StopScenario { .. }
            | Intent::HaltAll { .. }
            | Intent::ArmChaos {}
            | Intent::RecordChaos { .. }
            | Intent::EndScenario { .. }
            | Intent::FinishScenario { .. }
            | Intent::CreateGameday { .. }
            | Intent::AddTeam { .. }
            | Intent::JoinTeam { .. }
            | Intent::PlanScenario { .. }
            | Intent::StartGameday { .. }
            | Intent::GiveHint { .. }
            | Intent::ConfirmMitigation { .. }
            | Intent::EndGameday { .. }
            | Intent::FinishGameday { .. }
            | Intent::RecordKickoff { .. } => None,
            Intent::AddNote { incident, .. }
            | Intent::AddMember { incident, .. }
            | Intent::RemoveMember { incident, .. }
            | Intent::SetStatus { incident, .. }
            | Intent::SetSeverity { incident, .. }
            | Intent::AssignRole { incident, .. }
            | Intent::SetMilestone { incident, .. }
            | Intent::AttachPlaybook { incident, .. }
            | Intent::TickStep { incident, .. }
            | Intent::UntickStep { incident, .. }
            | Intent::AssignStep { incident, .. }
            | Intent::SendMessage { incident, .. }
            | Intent::SnoozeClock { incident, .. }
            | Intent::RecordDelivery { incident, .. }
            | Intent::WritePostmortem { incident, .. }
            | Intent::AddActionItem { incident, .. }
            | Intent::CompleteActionItem { incident, .. } => Some(*incident),
        }
    }
}

/// Why a command was refused. The server maps these to HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Also the answer about a private incident the actor may not see, so that nothing
    /// tells it apart from one that does not exist (404).
    #[error("{0} does not exist")]
    UnknownIncident(IncidentId),
    /// The actor sees the incident but this is not theirs to do (403).
    #[error("{0}")]
    Forbidden(String),
    /// A status page component that is neither a configured probe nor created by a
    /// commander or an admin (404).
    #[error("no status page component `{0}` (only a commander or an admin adds new ones)")]
    UnknownComponent(String),
    /// A scenario id the server's catalogue does not hold (404).
    #[error("no chaos scenario `{0}` in the server's catalogue")]
    UnknownScenario(String),
    /// A chaos run this log never started (404).
    #[error("{0} does not exist (no run of that number was started)")]
    UnknownRun(super::chaos::RunId),
    /// A game day this log never created (404).
    #[error("{0} does not exist (no game day of that number was created)")]
    UnknownGameday(super::gameday::GameDayId),
    /// The command no longer applies to the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// A field's value can never be accepted (422).
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

/// A name a person types (a team, a game day, a status page component): one line, no control
/// characters, and none of the invisible or reordering ones (zero-width, bidi) that make two
/// names look alike or one display as another on the big screen or the public page.
pub(crate) fn check_name(field: &'static str, text: &str, max: usize) -> Result<(), Rejection> {
    check_text(field, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(Rejection::Invalid { field, detail: "must not contain control characters".into() });
    }
    let hidden = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}');
    if text.chars().any(hidden) {
        return Err(Rejection::Invalid {
            field,
            detail: "must not contain invisible or direction-changing characters".into(),
        });
    }
    Ok(())
}

pub(crate) fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        return Err(Rejection::Invalid { field, detail: "must not be empty".into() });
    }
    check_len(field, text, max)
}

/// Like [`check_text`] but an empty text is fine (an impact, a reason).
pub(crate) fn check_len(field: &'static str, text: &str, max: usize) -> Result<(), Rejection> {
    let len = text.chars().count();
    if len > max {
        return Err(Rejection::Invalid {
            field,
            detail: format!("is {len} characters long, the limit is {max}"),
        });
    }
    Ok(())
}

/// A list's length against its limit.
pub(crate) fn check_count<T>(field: &'static str, list: &[T], max: usize) -> Result<(), Rejection> {
    if list.len() > max {
        return Err(Rejection::Invalid {
            field,
            detail: format!("has {} entries, the limit is {max}", list.len()),
        });
    }
    Ok(())
}

/// Cuts the server's own descriptive text to `max` characters, marking the cut. Used for
/// internal intents, where refusing would lose the fact itself (a probe turning red, a
/// delivery) over the length of its explanation.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}
