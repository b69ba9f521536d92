//! Events: the facts the server has ordered. Never edited, never deleted; every view is a
//! fold of them with [`super::State::apply`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::UserRole;
use super::comms::Checklist;
use super::incident::{ClosureReason, IncidentId, Milestone, Role, Severity, Status};
use super::playbook::Audience;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Gap-free and strictly increasing, from 1.
    pub seq: u64,
    /// When the server ordered it (UTC).
    pub at: DateTime<Utc>,
    pub actor: String,
    pub role: UserRole,
    /// The idempotency key of the command that caused it.
    pub command_id: Uuid,
    #[serde(flatten)]
    pub fact: Fact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    IncidentDeclared {
        incident: IncidentId,
        title: String,
        severity: Severity,
        impact: String,
        drill: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        services: Vec<String>,
        /// Additive: absent (false) in every log written before private incidents.
        #[serde(default, skip_serializing_if = "super::is_false")]
        private: bool,
        /// Declared while a game day ran: a drill of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gameday: Option<super::gameday::GameDayId>,
        /// The hero team whose drill it is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team: Option<String>,
    },
    MemberAdded {
        incident: IncidentId,
        person: String,
    },
    MemberRemoved {
        incident: IncidentId,
        person: String,
    },
    NoteAdded {
        incident: IncidentId,
        text: String,
    },
    StatusChanged {
        incident: IncidentId,
        from: Status,
        to: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closure: Option<ClosureReason>,
    },
    SeverityChanged {
        incident: IncidentId,
        from: Severity,
        to: Severity,
    },
    RoleAssigned {
        incident: IncidentId,
        /// Not `role`: that name belongs to the envelope (the actor's user role).
        assigned_role: Role,
        person: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    MilestoneSet {
        incident: IncidentId,
        milestone: Milestone,
        time: DateTime<Utc>,
    },
    PlaybookAttached {
        incident: IncidentId,
        checklist: Checklist,
    },
    StepTicked {
        incident: IncidentId,
        step: String,
        /// Who did the step, when not the actor (a delivered message ticks its sender's step).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// A communicate step ticked by hand: this audience was told outside warroom.
        /// Additive: absent in logs from before, where a tick moved no clock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outside: Option<Audience>,
    },
    StepUnticked {
        incident: IncidentId,
        step: String,
    },
    StepAssigned {
        incident: IncidentId,
        step: String,
        person: String,
    },
    MessageQueued {
        incident: IncidentId,
        message: Uuid,
        channel: String,
        audience: Audience,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The public status the update was sent with. Additive: absent in older logs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<super::comms::PublicStatus>,
    },
    MessageDelivered {
        incident: IncidentId,
        message: Uuid,
        #[serde(default)]
        detail: String,
    },
    /// Deliberately not delivered, and why (a drill's update is never published).
    MessageWithheld {
        incident: IncidentId,
        message: Uuid,
        reason: String,
    },
    MessageFailed {
        incident: IncidentId,
        message: Uuid,
        error: String,
        /// True when the server gave up retrying.
        last: bool,
    },
    ClockSnoozed {
        incident: IncidentId,
        audience: Audience,
        until: DateTime<Utc>,
    },
    ProbeChanged {
        probe: String,
        from: super::probe::Health,
        to: super::probe::Health,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed: Vec<String>,
    },
    ComponentSet {
        component: String,
        status: Option<super::incident::ComponentStatus>,
    },
    /// A villain started a scenario; the event carries what clients may see of it, so replays
    /// never depend on files that changed since.
    ScenarioStarted {
        run: super::chaos::RunId,
        /// Boxed: the largest fact by far, and rare.
        scenario: Box<super::chaos::ScenarioInfo>,
        ends_at: DateTime<Utc>,
        /// Started while a game day ran: one of its plans.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gameday: Option<super::gameday::GameDayId>,
    },
    /// A run is to end (and be rolled back), and why.
    ScenarioStopping {
        run: super::chaos::RunId,
        cause: super::chaos::StopCause,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A step the server's runner took: a steady-state check, an inject, a rollback, a report.
    ChaosStep {
        run: super::chaos::RunId,
        step: super::chaos::StepKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<usize>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        driver: String,
        ok: bool,
        #[serde(default)]
        output: String,
    },
    /// Rolled back; the hypothesis judged (absent when there was nothing to judge).
    ScenarioEnded {
        run: super::chaos::RunId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<super::chaos::Verdict>,
    },
    /// Halt-all: every listed run rolled back, and chaos disarmed.
    ChaosHalted {
        reason: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        runs: Vec<super::chaos::RunId>,
    },
    ChaosArmed {},
    /// An incident declared about a running scenario's target: the run that caused it.
    RunLinked {
        incident: IncidentId,
        run: super::chaos::RunId,
        scenario: String,
    },
    GamedayCreated {
        gameday: super::gameday::GameDayId,
        name: String,
        style: super::gameday::Style,
        weights: super::gameday::Weights,
    },
    TeamAdded {
        gameday: super::gameday::GameDayId,
        team: String,
    },
    TeamJoined {
        gameday: super::gameday::GameDayId,
        team: String,
        person: String,
    },
    /// Hidden from heroes until debrief.
    ScenarioPlanned {
        gameday: super::gameday::GameDayId,
        plan: Box<super::gameday::Plan>,
    },
    GamedayStarted {
        gameday: super::gameday::GameDayId,
    },
    /// An informed game day tells heroes what starts now.
    ScenarioKickedOff {
        gameday: super::gameday::GameDayId,
        kickoff: super::gameday::Kickoff,
    },
    HintGiven {
        gameday: super::gameday::GameDayId,
        team: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<u32>,
        text: String,
    },
    MitigationConfirmed {
        gameday: super::gameday::GameDayId,
        team: String,
        plan: u32,
    },
    GamedayEnded {
        gameday: super::gameday::GameDayId,
    },
    GamedayFinished {
        gameday: super::gameday::GameDayId,
    },
    /// The server posted (or failed to post) a kick-off message on its channel.
    KickoffPosted {
        gameday: super::gameday::GameDayId,
        plan: u32,
        ok: bool,
        detail: String,
        #[serde(default, skip_serializing_if = "super::is_false")]
        last: bool,
    },
    /// A revision of the incident's postmortem (the whole document, every revision kept).
    PostmortemWritten {
        incident: IncidentId,
        revision: u32,
        document: super::postmortem::Document,
    },
    ActionItemAdded {
        incident: IncidentId,
        item: super::postmortem::NewItem,
    },
    ActionItemCompleted {
        incident: IncidentId,
        item: u32,
    },
    /// An event this reader may not see (game-day secrets): same seq, no body.
    Redacted,
    /// A fact this build cannot read: a kind from a newer server, or a known kind whose body
    /// does not parse. Kept whole so it re-serializes as it came; `decide` never makes one.
    /// Serde tries it only after every known kind failed.
    #[serde(untagged)]
    Unknown(UnknownFact),
}

/// The raw body of a fact this build cannot read, with what can still be made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownFact {
    /// The `kind` it was written with (empty when it had none).
    pub kind: String,
    /// The incident it names, if its `incident` field reads as one.
    pub incident: Option<IncidentId>,
    /// Every field but the envelope's, `kind` included, as received.
    pub body: serde_json::Map<String, serde_json::Value>,
}

impl UnknownFact {
    pub fn from_body(body: serde_json::Map<String, serde_json::Value>) -> UnknownFact {
        let kind = body.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
        let incident = body.get("incident").and_then(|i| i.as_str()).and_then(|i| i.parse().ok());
        UnknownFact { kind, incident, body }
    }
}

impl Serialize for UnknownFact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body.serialize(s)
    }
}

impl<'de> Deserialize<'de> for UnknownFact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Map::deserialize(d).map(UnknownFact::from_body)
    }
}

impl Fact {
    /// The wire name (`note_added`); for an unreadable fact, the name it came with.
    pub fn kind(&self) -> &str {
        match self {
            Fact::IncidentDeclared { .. } => "incident_declared",
            Fact::MemberAdded { .. } => "member_added",
            Fact::MemberRemoved { .. } => "member_removed",
            Fact::NoteAdded { .. } => "note_added",
            Fact::StatusChanged { .. } => "status_changed",
            Fact::SeverityChanged { .. } => "severity_changed",
            Fact::RoleAssigned { .. } => "role_assigned",
            Fact::MilestoneSet { .. } => "milestone_set",
            Fact::PlaybookAttached { .. } => "playbook_attached",
            Fact::StepTicked { .. } => "step_ticked",
            Fact::StepUnticked { .. } => "step_unticked",
            Fact::StepAssigned { .. } => "step_assigned",
            Fact::MessageQueued { .. } => "message_queued",
            Fact::MessageDelivered { .. } => "message_delivered",
            Fact::MessageWithheld { .. } => "message_withheld",
            Fact::MessageFailed { .. } => "message_failed",
            Fact::ClockSnoozed { .. } => "clock_snoozed",
            Fact::ProbeChanged { .. } => "probe_changed",
            Fact::ComponentSet { .. } => "component_set",
            Fact::ScenarioStarted { .. } => "scenario_started",
            Fact::ScenarioStopping { .. } => "scenario_stopping",
            Fact::ChaosStep { .. } => "chaos_step",
            Fact::ScenarioEnded { .. } => "scenario_ended",
            Fact::ChaosHalted { .. } => "chaos_halted",
            Fact::ChaosArmed {} => "chaos_armed",
            Fact::RunLinked { .. } => "run_linked",
            Fact::GamedayCreated { .. } => "gameday_created",
            Fact::TeamAdded { .. } => "team_added",
            Fact::TeamJoined { .. } => "team_joined",
            Fact::ScenarioPlanned { .. } => "scenario_planned",
            Fact::GamedayStarted { .. } => "gameday_started",
            Fact::ScenarioKickedOff { .. } => "scenario_kicked_off",
            Fact::HintGiven { .. } => "hint_given",
            Fact::MitigationConfirmed { .. } => "mitigation_confirmed",
            Fact::GamedayEnded { .. } => "gameday_ended",
            Fact::GamedayFinished { .. } => "gameday_finished",
            Fact::KickoffPosted { .. } => "kickoff_posted",
            Fact::PostmortemWritten { .. } => "postmortem_written",
            Fact::ActionItemAdded { .. } => "action_item_added",
            Fact::ActionItemCompleted { .. } => "action_item_completed",
            Fact::Redacted => "redacted",
            Fact::Unknown(u) => &u.kind,
        }
    }

    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Fact::IncidentDeclared { incident, .. }
            | Fact::NoteAdded { incident, .. }
            | Fact::MemberAdded { incident, .. }
            | Fact::MemberRemoved { incident, .. }
            | Fact::StatusChanged { incident, .. }
            | Fact::SeverityChanged { incident, .. }
            | Fact::RoleAssigned { incident, .. }
            | Fact::MilestoneSet { incident, .. }
            | Fact::PlaybookAttached { incident, .. }
            | Fact::StepTicked { incident, .. }
            | Fact::StepUnticked { incident, .. }
            | Fact::StepAssigned { incident, .. }
            | Fact::MessageQueued { incident, .. }
            | Fact::MessageDelivered { incident, .. }
            | Fact::MessageWithheld { incident, .. }
            | Fact::MessageFailed { incident, .. }
            | Fact::ClockSnoozed { incident, .. }
            | Fact::RunLinked { incident, .. }
            | Fact::PostmortemWritten { incident, .. }
            | Fact::ActionItemAdded { incident, .. }
            | Fact::ActionItemCompleted { incident, .. } => Some(*incident),
            Fact::Unknown(u) => u.incident,
            Fact::Redacted
            | Fact::ProbeChanged { .. }
            | Fact::ComponentSet { .. }
            | Fact::ScenarioStarted { .. }
            | Fact::ScenarioStopping { .. }
            | Fact::ChaosStep { .. }
            | Fact::ScenarioEnded { .. }
            | Fact::ChaosHalted { .. }
            | Fact::ChaosArmed {}
            | Fact::GamedayCreated { .. }
            | Fact::TeamAdded { .. }
            | Fact::TeamJoined { .. }
            | Fact::ScenarioPlanned { .. }
            | Fact::GamedayStarted { .. }
            | Fact::ScenarioKickedOff { .. }
            | Fact::HintGiven { .. }
            | Fact::MitigationConfirmed { .. }
            | Fact::GamedayEnded { .. }
            | Fact::GamedayFinished { .. }
            | Fact::KickoffPosted { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::t;
    use crate::model::{EntryKind, Intent, State};

    /// A fact from a newer server, and a known kind whose body this build cannot read.
    const FUTURE: &str = r#"{"seq":3,"at":"2026-11-21T10:02:00Z","actor":"alice","role":"commander","command_id":"00000000-0000-0000-0000-000000000000","kind":"chaos_started","incident":"INC-1","experiment":{"name":"latency","toxicity":0.5},"tags":["a"]}"#;
    const MALFORMED: &str = r#"{"seq":4,"at":"2026-11-21T10:03:00Z","actor":"bob","role":"responder","command_id":"00000000-0000-0000-0000-000000000000","kind":"note_added","incident":"INC-1","text":{"rich":true}}"#;
    const NO_INCIDENT: &str = r#"{"seq":5,"at":"2026-11-21T10:04:00Z","actor":"bob","role":"responder","command_id":"00000000-0000-0000-0000-000000000000","kind":"scoreboard_reset"}"#;

    fn declared() -> State {
        let mut s = State::default();
        let facts = s
            .decide(&Intent::DeclareIncident {
                title: "t".into(),
                severity: super::Severity::Sev3,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private: false,
            })
            .unwrap();
        let at = "2026-11-21T10:00:00Z".parse().unwrap();
        for e in crate::model::stamp(1, at, "alice", UserRole::Commander, Uuid::nil(), facts) {
            s.apply(&e);
        }
        s
    }

    #[test]
    fn a_fact_this_build_cannot_read_is_kept_whole_and_shown_on_its_incident() {
        let mut s = declared();
        for (json, kind) in [(FUTURE, "chaos_started"), (MALFORMED, "note_added")] {
            let e: Event = serde_json::from_str(json).unwrap_or_else(|err| panic!("{json}: {err}"));
            let Fact::Unknown(u) = &e.fact else { panic!("{json} read as {}", e.fact.kind()) };
            assert_eq!((u.kind.as_str(), u.incident), (kind, Some(IncidentId(1))));
            assert_eq!(e.fact.kind(), kind);
            assert_eq!(e.fact.incident(), Some(IncidentId(1)));
            // It goes back on the wire exactly as it came.
            let back: serde_json::Value = serde_json::to_value(&e).unwrap();
            assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());
            s.apply(&e);
            let last = s.incidents[&IncidentId(1)].timeline.last().unwrap();
            assert_eq!(last.kind, EntryKind::Unreadable { fact_kind: kind.into() });
            assert_eq!(last.kind.summary(), format!("unreadable entry: {kind}"));
            assert_eq!(last.kind.tag(), "unreadable");
            assert!(crate::present::event_line(&e).ends_with(&format!("INC-1 unreadable entry: {kind}")));
        }
        let e: Event = serde_json::from_str(NO_INCIDENT).unwrap();
        let before = s.incidents.clone();
        s.apply(&e);
        assert_eq!((s.seq, &s.incidents), (5, &before), "no incident: only the seq moves");
        assert!(crate::present::event_line(&e).ends_with("unreadable entry: scoreboard_reset"));
    }

    #[test]
    fn the_envelope_must_still_parse() {
        for bad in [
            FUTURE.replace(r#""seq":3"#, r#""seq":"three""#),
            FUTURE.replace(r#""role":"commander""#, r#""role":"overlord""#),
            FUTURE.replace(r#""at":"2026-11-21T10:02:00Z","#, ""),
        ] {
            assert!(serde_json::from_str::<Event>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn known_facts_still_read_as_themselves() {
        let ok = MALFORMED.replace(r#"{"rich":true}"#, r#""plain""#);
        let e: Event = serde_json::from_str(&ok).unwrap();
        assert_eq!(e.fact, Fact::NoteAdded { incident: IncidentId(1), text: "plain".into() });
        let e: Event = serde_json::from_str(&NO_INCIDENT.replace("scoreboard_reset", "redacted")).unwrap();
        assert_eq!(e.fact, Fact::Redacted);
    }

    #[test]
    fn every_fact_survives_the_wire_inside_its_envelope() {
        let inc = IncidentId(2);
        let facts = vec![
            Fact::IncidentDeclared {
                incident: inc,
                title: "t".into(),
                severity: Severity::Sev2,
                impact: "i".into(),
                drill: true,
                services: Vec::new(),
                private: false,
                gameday: None,
                team: None,
            },
            Fact::NoteAdded { incident: inc, text: "n".into() },
            Fact::StatusChanged {
                incident: inc,
                from: Status::Declared,
                to: Status::Closed,
                reason: Some("duplicate".into()),
                closure: Some(ClosureReason::Duplicate),
            },
            Fact::SeverityChanged { incident: inc, from: Severity::Sev2, to: Severity::Sev1 },
            Fact::RoleAssigned {
                incident: inc,
                assigned_role: Role::Scribe,
                person: "p".into(),
                previous: Some("q".into()),
            },
            Fact::MilestoneSet { incident: inc, milestone: Milestone::Started, time: t(5) },
            Fact::Redacted,
        ];
        for fact in facts {
            let e = Event {
                seq: 1,
                at: t(0),
                actor: "a".into(),
                role: UserRole::Admin,
                command_id: Uuid::nil(),
                fact,
            };
            let wire = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&wire).unwrap_or_else(|err| panic!("{wire}: {err}"));
            assert_eq!(back, e);
            assert_eq!(serde_json::to_value(&e).unwrap()["kind"], e.fact.kind());
        }
    }

    #[test]
    fn events_use_the_wire_names() {
        let e = Event {
            seq: 4,
            at: t(0),
            actor: "bob".into(),
            role: UserRole::Responder,
            command_id: Uuid::nil(),
            fact: Fact::NoteAdded { incident: IncidentId(7), text: "hi".into() },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "note_added");
        assert_eq!(v["incident"], "INC-7");
        assert_eq!(v["role"], "responder");
        let intent: Intent =
            serde_json::from_str(r#"{"kind":"set_status","incident":"INC-1","status":"mitigating"}"#)
                .unwrap();
        assert_eq!(
            intent,
            Intent::SetStatus { incident: IncidentId(1), status: Status::Mitigating, reason: None }
        );
    }
}
