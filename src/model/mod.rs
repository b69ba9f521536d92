//! The pure domain: the shared war-room state and the two functions everything rests on,
//! `decide` (intent → facts, or a refusal) and `apply` (fact → new state), each routing to the
//! module of the aggregate concerned (incident, playbook, comms, probe). No I/O, no clock.

pub mod access;
pub mod chaos;
pub mod comms;
pub mod event;
pub mod gameday;
pub mod incident;
pub mod intent;
pub mod library;
pub mod playbook;
pub mod postmortem;
pub mod probe;
#[cfg(test)]
pub(crate) mod props;
pub mod stats;
pub mod timeline;
pub mod window;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use access::UserRole;
pub use event::{Event, Fact};
pub use incident::{
    check_transition, ClosureReason, Incident, IncidentId, Milestone, Role, Severity, Status,
};
pub use intent::{Intent, Rejection};

pub use library::Library;
pub use playbook::Audience;
pub use timeline::{EntryKind, TimelineEntry};
pub use window::{Adopted, Elided, Window};

/// Which fold this build is: bumped whenever the same events fold into a different state, so
/// that a snapshot made by another fold is not read (the server folds the log again instead,
/// and its next snapshot is of this fold). The log is the truth; a snapshot only saves time.
///
/// 1. Everything before the number existed (snapshots without one are of fold 1).
/// 2. A forward move stamps the milestones of the statuses it skips: declared → mitigated is
///    also acknowledged.
/// 3. Unticking a communicate step ticked by hand takes back its "sent outside warroom"
///    message: the audience's clock runs from its last real update again.
pub const FOLD_VERSION: u32 = 3;

/// Everything every responder sees. Maps are ordered so equal states serialize equally.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The seq of the last event applied.
    pub seq: u64,
    /// Each incident behind an `Arc`: copies of the state (the writer's, the readers', the
    /// snapshot's) share every incident neither has changed since, and a change copies only
    /// the incident it changes (`Arc::make_mut`). A closed incident is shared for good.
    pub incidents: BTreeMap<IncidentId, Arc<Incident>>,
    /// Each probe's health: only changes are events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<String, probe::ProbeState>,
    /// Status page components a human set by hand (they stop following their probe).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, incident::ComponentStatus>,
    /// Chaos runs and whether chaos is armed.
    #[serde(default, skip_serializing_if = "chaos::Chaos::is_empty")]
    pub chaos: chaos::Chaos,
    /// Game days, oldest first.
    #[serde(default, skip_serializing_if = "gameday::GameDays::is_empty")]
    pub gamedays: gameday::GameDays,
    /// How much of closed incidents this copy keeps (not part of the state's JSON: a reader
    /// sees what was dropped in each incident's `elided`).
    #[serde(skip)]
    pub window: Window,
}

impl State {
    pub fn incident(&self, id: IncidentId) -> Result<&Incident, Rejection> {
        self.incidents.get(&id).map(|i| &**i).ok_or(Rejection::UnknownIncident(id))
    }

    /// The id the next declared incident gets; refused once the numbers run out (only a
    /// damaged log can get there, but a refusal beats an overflow).
    pub fn next_incident_id(&self) -> Result<IncidentId, Rejection> {
        match self.incidents.keys().next_back() {
            None => Ok(IncidentId(1)),
            Some(last) => {
                last.0.checked_add(1).map(IncidentId).ok_or_else(|| {
                    Rejection::Conflict(format!("{last} is the last incident number there is"))
                })
            }
        }
    }

    /// The newest time this state has seen (the epoch when it has seen nothing): the "now" of
    /// a decision made without a clock.
    pub fn latest_time(&self) -> DateTime<Utc> {
        let incidents = self.incidents.values().map(|i| i.updated_at);
        let probes = self.probes.values().map(|p| p.since);
        incidents.chain(probes).max().unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// `decide_with` an empty library, at [`State::latest_time`]: for intents that need no
    /// library, when no clock is at hand (tests, benchmarks, replays).
    pub fn decide(&self, intent: &Intent) -> Result<Vec<Fact>, Rejection> {
        self.decide_with(
            intent,
            &Context {
                library: &Library::default(),
                now: self.latest_time(),
                command_id: uuid::Uuid::nil(),
                role: UserRole::Admin,
                actor: "",
            },
        )
    }

    /// Turns an intent into the facts it causes, or says why it cannot happen now. Each
    /// aggregate decides its own intents; the match has no catch-all so that a new intent
    /// has to choose its module.
    pub fn decide_with(&self, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
        // A private incident the actor may not see is refused exactly like a missing one,
        // before any aggregate can word a refusal that would tell them apart.
        if let Some(id) = intent.incident() {
            if self.incidents.get(&id).is_some_and(|i| !i.visible_to(cx.actor, cx.role)) {
                return Err(Rejection::UnknownIncident(id));
            }
        }
        match intent {
            Intent::DeclareIncident { .. }
            | Intent::AddMember { .. }
            | Intent::RemoveMember { .. }
            | Intent::AddNote { .. }
            | Intent::SetStatus { .. }
            | Intent::SetSeverity { .. }
            | Intent::AssignRole { .. }
            | Intent::SetMilestone { .. } => incident::decide(self, intent, cx),
            Intent::AttachPlaybook { .. }
            | Intent::TickStep { .. }
            | Intent::UntickStep { .. }
            | Intent::AssignStep { .. } => playbook::decide(self, intent, cx),
            Intent::SendMessage { .. } | Intent::SnoozeClock { .. } | Intent::RecordDelivery { .. } => {
                comms::decide(self, intent, cx)
            }
            Intent::SetComponent { .. } | Intent::RecordProbe { .. } => probe::decide(self, intent, cx),
            Intent::StartScenario { .. }
            | Intent::StopScenario { .. }
            | Intent::HaltAll { .. }
            | Intent::ArmChaos {}
            | Intent::RecordChaos { .. }
            | Intent::EndScenario { .. }
            | Intent::FinishScenario { .. } => chaos::decide(self, intent, cx),
            Intent::CreateGameday { .. }
            | Intent::AddTeam { .. }
            | Intent::JoinTeam { .. }
            | Intent::PlanScenario { .. }
            | Intent::StartGameday { .. }
            | Intent::GiveHint { .. }
            | Intent::ConfirmMitigation { .. }
            | Intent::EndGameday { .. }
            | Intent::FinishGameday { .. }
            | Intent::RecordKickoff { .. } => gameday::decide(self, intent, cx),
            Intent::WritePostmortem { .. }
            | Intent::AddActionItem { .. }
            | Intent::CompleteActionItem { .. } => postmortem::decide(self, intent, cx),
        }
    }

    /// Folds one event into the state. Events are facts the server already validated, so
    /// this never fails, and it never panics whatever a damaged or newer log holds: an event
    /// at or before our seq was applied already and is skipped (seqs are gap-free and
    /// strictly increasing, so applying it again could only duplicate entries); one for an
    /// incident this replica lacks, or a step or message it does not have, only advances seq.
    pub fn apply(&mut self, event: &Event) {
        if event.seq <= self.seq {
            return;
        }
        self.seq = event.seq;
        // Each aggregate folds its own facts; no catch-all, so a new fact has to choose its
        // module. Facts about one incident share the lookup and the timeline entry.
        match &event.fact {
            Fact::Redacted => {}
            Fact::IncidentDeclared { .. } => incident::apply_declared(self, event),
            Fact::ProbeChanged { .. } | Fact::ComponentSet { .. } => probe::apply(self, event),
            Fact::ScenarioStarted { .. }
            | Fact::ScenarioStopping { .. }
            | Fact::ChaosStep { .. }
            | Fact::ScenarioEnded { .. }
            | Fact::ChaosHalted { .. }
            | Fact::ChaosArmed {} => chaos::apply(self, event),
            Fact::GamedayCreated { .. }
            | Fact::TeamAdded { .. }
            | Fact::TeamJoined { .. }
            | Fact::ScenarioPlanned { .. }
            | Fact::GamedayStarted { .. }
            | Fact::ScenarioKickedOff { .. }
            | Fact::HintGiven { .. }
            | Fact::MitigationConfirmed { .. }
            | Fact::GamedayEnded { .. }
            | Fact::GamedayFinished { .. }
            | Fact::KickoffPosted { .. } => gameday::apply(self, event),
            fact => {
                if matches!(fact, Fact::RunLinked { .. }) {
                    chaos::link_run(self, event);
                }
                let Some(inc) = fact.incident().and_then(|id| self.incidents.get_mut(&id)).map(Arc::make_mut)
                else {
                    return;
                };
                let kind = match fact {
                    Fact::PlaybookAttached { .. }
                    | Fact::StepTicked { .. }
                    | Fact::StepUnticked { .. }
                    | Fact::StepAssigned { .. } => playbook::apply(inc, event),
                    Fact::MessageQueued { .. }
                    | Fact::MessageDelivered { .. }
                    | Fact::MessageWithheld { .. }
                    | Fact::MessageFailed { .. }
                    | Fact::ClockSnoozed { .. } => comms::apply(inc, event),
                    Fact::NoteAdded { .. }
                    | Fact::StatusChanged { .. }
                    | Fact::SeverityChanged { .. }
                    | Fact::RoleAssigned { .. }
                    | Fact::MemberAdded { .. }
                    | Fact::MemberRemoved { .. }
                    | Fact::MilestoneSet { .. } => incident::apply(inc, event),
                    Fact::RunLinked { .. } => chaos::apply_link(inc, event),
                    Fact::PostmortemWritten { .. }
                    | Fact::ActionItemAdded { .. }
                    | Fact::ActionItemCompleted { .. } => postmortem::apply(inc, event),
                    Fact::Unknown(u) => Some(EntryKind::Unreadable { fact_kind: u.kind.clone() }),
                    // Handled above.
                    Fact::IncidentDeclared { .. }
                    | Fact::Redacted
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
                };
                // Only a fact that wrote an entry counts as activity.
                let Some(kind) = kind else { return };
                inc.updated_at = event.at;
                inc.timeline.push(TimelineEntry::of(event, kind));
                // A copy drops what its window does not keep when the incident closes, and a
                // summary stays one: what a closed incident hears later is counted, not held.
                // A full copy (a fetched one a client adopted) stays full.
                if matches!(fact, Fact::StatusChanged { .. }) || inc.elided.is_some() {
                    inc.window(self.window);
                }
            }
        }
    }

    /// Incidents in the order a responder wants them: open first, worst first, oldest first.
    pub fn incidents_by_priority(&self) -> Vec<&Incident> {
        let mut list: Vec<&Incident> = self.incidents.values().map(|i| &**i).collect();
        list.sort_by_key(|i| (!i.status.is_open(), i.severity, i.declared_at(), i.id));
        list
    }
}

/// The refusal an aggregate gives an intent that is not its own. [`State::decide_with`] routes
/// every intent to its aggregate, so this is never seen; a refusal beats a panic if it were.
fn misrouted(aggregate: &str, intent: &Intent) -> Rejection {
    Rejection::Conflict(format!("{} is not for the {aggregate} aggregate", intent.kind()))
}

/// What `decide` may know besides the state: the server's library, the time, the id of the
/// command being decided (it names the message a `send_message` creates), and the role of
/// whoever sent it (for rules that depend on both the role and the state), and their name
/// (private incidents are visible to named people, and only their commander adds members).
pub struct Context<'a> {
    pub library: &'a Library,
    pub now: DateTime<Utc>,
    pub command_id: uuid::Uuid,
    pub role: UserRole,
    pub actor: &'a str,
}

#[cfg(test)]
impl<'a> Context<'a> {
    /// An admin with no name deciding at `now`, for the model's tests.
    pub(crate) fn admin(library: &'a Library, now: DateTime<Utc>) -> Context<'a> {
        Context { library, now, command_id: uuid::Uuid::nil(), role: UserRole::Admin, actor: "" }
    }
}

/// For `skip_serializing_if` on additive flags: absent means false, so old logs and digests
/// read and hash as they always did.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Stamps facts into events; used by the server's writer and by tests.
pub fn stamp(
    first_seq: u64,
    at: DateTime<Utc>,
    actor: &str,
    role: UserRole,
    command_id: uuid::Uuid,
    facts: Vec<Fact>,
) -> Vec<Event> {
    facts
        .into_iter()
        .enumerate()
        .map(|(i, fact)| Event {
            seq: first_seq.saturating_add(i as u64),
            at,
            actor: actor.to_string(),
            role,
            command_id,
            fact,
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::intent::{MAX_NAME, MAX_SERVICES, MAX_TEXT, MAX_TITLE};
    use super::*;
    use uuid::Uuid;

    pub(super) fn t(s: u32) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_795_000_000 + s as i64, 0).unwrap()
    }

    /// Decides and applies like the server does, returning the events.
    pub(super) fn run(state: &mut State, actor: &str, intent: Intent) -> Result<Vec<Event>, Rejection> {
        let facts = state.decide(&intent)?;
        let events =
            stamp(state.seq + 1, t(state.seq as u32 * 60), actor, UserRole::Commander, Uuid::new_v4(), facts);
        for e in &events {
            state.apply(e);
        }
        Ok(events)
    }

    pub(super) fn declare(state: &mut State, title: &str, sev: Severity) -> IncidentId {
        let ev = run(
            state,
            "alice",
            Intent::DeclareIncident {
                title: title.into(),
                severity: sev,
                impact: "".into(),
                drill: false,
                services: Vec::new(),
                private: false,
            },
        )
        .unwrap();
        ev[0].fact.incident().unwrap()
    }

    #[test]
    fn every_string_list_and_time_an_intent_carries_has_a_limit_that_names_its_field() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        let long = |n: usize| "é".repeat(n + 1);
        let declare_with = |title: String, impact: String, services: Vec<String>| Intent::DeclareIncident {
            title,
            severity: Severity::Sev3,
            impact,
            drill: false,
            services,
            private: false,
        };
        let cases = [
            ("title", declare_with(long(MAX_TITLE), String::new(), Vec::new())),
            ("impact", declare_with("t".into(), long(MAX_TEXT), Vec::new())),
            ("services", declare_with("t".into(), String::new(), vec!["s".into(); MAX_SERVICES + 1])),
            ("services", declare_with("t".into(), String::new(), vec![long(MAX_NAME)])),
            (
                "reason",
                Intent::SetStatus { incident: id, status: Status::Closed, reason: Some(long(MAX_TEXT)) },
            ),
            ("person", Intent::AssignRole { incident: id, role: Role::Deputy, person: long(MAX_NAME) }),
            ("playbook", Intent::AttachPlaybook { incident: id, playbook: long(MAX_NAME) }),
            ("step", Intent::TickStep { incident: id, step: long(MAX_NAME) }),
            ("step", Intent::AssignStep { incident: id, step: String::new(), person: "p".into() }),
            (
                "channel",
                Intent::SendMessage {
                    incident: id,
                    channel: long(MAX_NAME),
                    text: "t".into(),
                    step: None,
                    status: None,
                },
            ),
            ("component", Intent::SetComponent { component: long(MAX_NAME), status: None }),
            (
                "probe",
                Intent::RecordProbe {
                    probe: long(MAX_NAME),
                    health: probe::Health::Down,
                    failed: vec![],
                    auto_declare: None,
                },
            ),
            ("minutes", Intent::SnoozeClock { incident: id, audience: Audience::Staff, minutes: 0 }),
        ];
        for (field, intent) in cases {
            match s.decide(&intent) {
                Err(Rejection::Invalid { field: f, detail }) => assert_eq!(f, field, "{detail}"),
                other => panic!("{}: expected {field} to be refused, got {other:?}", intent.kind()),
            }
        }
        let at = |time: &str| Intent::SetMilestone {
            incident: id,
            milestone: Milestone::Started,
            time: time.parse().unwrap(),
        };
        // Without a clock, `decide` takes the state's latest time (t(0) here) as now.
        assert_eq!(s.latest_time(), t(0));
        for bad in ["1969-12-31T23:59:59Z", "-262143-01-01T00:00:00Z", "+262142-12-31T23:59:59Z"] {
            assert!(matches!(s.decide(&at(bad)), Err(Rejection::Invalid { field: "time", .. })), "{bad}");
        }
        assert!(s.decide(&at(&(t(0) - chrono::Duration::days(400)).to_rfc3339())).is_ok());
        assert!(s.decide(&at(&(t(0) + chrono::Duration::hours(23)).to_rfc3339())).is_ok());
        assert!(s.decide(&at(&(t(0) + chrono::Duration::hours(25)).to_rfc3339())).is_err());
    }

    #[test]
    fn a_damaged_log_cannot_make_apply_or_numbering_panic() {
        let mut s = State::default();
        let last = IncidentId(u64::MAX);
        let fact = Fact::IncidentDeclared {
            incident: last,
            title: "t".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: false,
            gameday: None,
            team: None,
        };
        let events = stamp(1, t(0), "a", UserRole::Admin, Uuid::nil(), vec![fact]);
        s.apply(&events[0]);
        assert!(matches!(s.next_incident_id(), Err(Rejection::Conflict(_))));
        assert!(matches!(declare_err(&s), Err(Rejection::Conflict(_))));
        // An event already applied (a replayed page, a duplicate frame) changes nothing.
        let before = s.clone();
        s.apply(&events[0]);
        let stale = stamp(0, t(1), "a", UserRole::Admin, Uuid::nil(), vec![Fact::Redacted]);
        s.apply(&stale[0]);
        assert_eq!(s, before);
        // Facts about steps, messages or incidents this replica lacks only move the seq.
        let orphans = vec![
            Fact::StepTicked { incident: last, step: "nope".into(), by: None, outside: None },
            Fact::MessageDelivered { incident: last, message: Uuid::nil(), detail: String::new() },
            Fact::NoteAdded { incident: IncidentId(7), text: "n".into() },
        ];
        for e in stamp(2, t(2), "a", UserRole::Admin, Uuid::nil(), orphans) {
            s.apply(&e);
        }
        assert_eq!((s.seq, &s.incidents), (4, &before.incidents));
    }

    fn declare_err(s: &State) -> Result<Vec<Fact>, Rejection> {
        s.decide(&Intent::DeclareIncident {
            title: "t".into(),
            severity: Severity::Sev4,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: false,
        })
    }

    #[test]
    fn the_same_events_fold_to_the_same_state_everywhere() {
        let mut server = State::default();
        let mut log = Vec::new();
        let id = declare(&mut server, "a", Severity::Sev3);
        log.extend(run(&mut server, "b", Intent::AddNote { incident: id, text: "hi".into() }).unwrap());
        log.extend(
            run(
                &mut server,
                "b",
                Intent::SetStatus { incident: id, status: Status::Closed, reason: Some("duplicate".into()) },
            )
            .unwrap(),
        );
        // A replica that starts from the first event's state and receives the rest over JSON.
        let mut replica = State::default();
        let declared = Event {
            seq: 1,
            at: t(0),
            actor: "alice".into(),
            role: UserRole::Commander,
            command_id: Uuid::nil(),
            fact: Fact::IncidentDeclared {
                incident: id,
                title: "a".into(),
                severity: Severity::Sev3,
                impact: "".into(),
                drill: false,
                services: Vec::new(),
                private: false,
                gameday: None,
                team: None,
            },
        };
        replica.apply(&declared);
        for e in &log {
            let wire = serde_json::to_string(e).unwrap();
            replica.apply(&serde_json::from_str(&wire).unwrap());
        }
        assert_eq!(serde_json::to_string(&replica).unwrap(), serde_json::to_string(&server).unwrap());
        assert_eq!(server.incident(id).unwrap().closure, Some(ClosureReason::Duplicate));
    }

    #[test]
    fn priority_order_is_open_then_worst_then_oldest() {
        let mut s = State::default();
        let a = declare(&mut s, "a", Severity::Sev3);
        let b = declare(&mut s, "b", Severity::Sev1);
        let c = declare(&mut s, "c", Severity::Sev1);
        run(
            &mut s,
            "x",
            Intent::SetStatus { incident: b, status: Status::Closed, reason: Some("cancelled".into()) },
        )
        .unwrap();
        let order: Vec<_> = s.incidents_by_priority().iter().map(|i| i.id).collect();
        assert_eq!(order, [c, a, b]);
    }

    #[test]
    fn an_intent_routed_to_the_wrong_aggregate_is_refused_not_a_panic() {
        let s = State::default();
        let library = Library::default();
        let cx = Context::admin(&library, t(0));
        let note = Intent::AddNote { incident: IncidentId(1), text: "n".into() };
        let component = Intent::SetComponent { component: "cdn".into(), status: None };
        let decided = [
            playbook::decide(&s, &note, &cx),
            comms::decide(&s, &note, &cx),
            probe::decide(&s, &note, &cx),
            incident::decide(&s, &component, &cx),
        ];
        for d in decided {
            assert!(matches!(&d, Err(Rejection::Conflict(why)) if why.contains("is not for")), "{d:?}");
        }
    }
}
