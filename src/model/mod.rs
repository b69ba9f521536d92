//! The pure domain: the shared war-room state and the two functions everything rests on,
//! `decide` (intent → facts, or a refusal) and `apply` (fact → new state). No I/O, no clock.

pub mod access;
pub mod event;
pub mod incident;
pub mod intent;
pub mod timeline;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use access::UserRole;
pub use event::{Event, Fact};
pub use incident::{
    check_transition, ClosureReason, Incident, IncidentId, Milestone, Role, Severity, Status,
};
pub use intent::{Intent, Rejection};
pub use timeline::{EntryKind, TimelineEntry};

use intent::{check_text, MAX_NAME, MAX_TEXT, MAX_TITLE};

/// Everything every responder sees. Maps are ordered so equal states serialize equally.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The seq of the last event applied.
    pub seq: u64,
    pub incidents: BTreeMap<IncidentId, Incident>,
}

impl State {
    pub fn incident(&self, id: IncidentId) -> Result<&Incident, Rejection> {
        self.incidents.get(&id).ok_or(Rejection::UnknownIncident(id))
    }

    /// The id the next declared incident gets.
    pub fn next_incident_id(&self) -> IncidentId {
        IncidentId(self.incidents.keys().next_back().map_or(1, |id| id.0 + 1))
    }

    /// Turns an intent into the facts it causes, or says why it cannot happen now.
    pub fn decide(&self, intent: &Intent) -> Result<Vec<Fact>, Rejection> {
        let fact = match intent {
            Intent::DeclareIncident { title, severity, impact, drill } => {
                check_text("title", title, MAX_TITLE)?;
                if impact.chars().count() > MAX_TEXT {
                    check_text("impact", impact, MAX_TEXT)?;
                }
                Fact::IncidentDeclared {
                    incident: self.next_incident_id(),
                    title: title.trim().to_string(),
                    severity: *severity,
                    impact: impact.trim().to_string(),
                    drill: *drill,
                }
            }
            Intent::AddNote { incident, text } => {
                self.incident(*incident)?;
                check_text("text", text, MAX_TEXT)?;
                Fact::NoteAdded { incident: *incident, text: text.clone() }
            }
            Intent::SetStatus { incident, status, reason } => {
                let inc = self.incident(*incident)?;
                if let Some(r) = reason {
                    if r.chars().count() > MAX_TEXT {
                        check_text("reason", r, MAX_TEXT)?;
                    }
                }
                let closure = check_transition(inc.status, *status, inc.severity, reason.as_deref())
                    .map_err(|e| Rejection::Conflict(format!("{incident}: {e}")))?;
                Fact::StatusChanged {
                    incident: *incident,
                    from: inc.status,
                    to: *status,
                    reason: reason.as_ref().map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
                    closure,
                }
            }
            Intent::SetSeverity { incident, severity } => {
                let inc = self.incident(*incident)?;
                if !inc.status.is_open() {
                    return Err(Rejection::Conflict(format!("{incident} is closed")));
                }
                if inc.severity == *severity {
                    return Err(Rejection::Conflict(format!("{incident} is already {severity}")));
                }
                Fact::SeverityChanged { incident: *incident, from: inc.severity, to: *severity }
            }
            Intent::AssignRole { incident, role, person } => {
                let inc = self.incident(*incident)?;
                check_text("person", person, MAX_NAME)?;
                let person = person.trim().to_string();
                let previous = inc.roles.get(role).cloned();
                if previous.as_deref() == Some(person.as_str()) {
                    return Err(Rejection::Conflict(format!("{person} is already {role} of {incident}")));
                }
                Fact::RoleAssigned { incident: *incident, assigned_role: *role, person, previous }
            }
            Intent::SetMilestone { incident, milestone, time } => {
                self.incident(*incident)?;
                Fact::MilestoneSet { incident: *incident, milestone: *milestone, time: *time }
            }
        };
        Ok(vec![fact])
    }

    /// Folds one event into the state. Events are facts the server already validated, so
    /// this never fails; an event for an incident this replica lacks is skipped.
    pub fn apply(&mut self, event: &Event) {
        debug_assert!(event.seq > self.seq, "event {} applied after {}", event.seq, self.seq);
        self.seq = event.seq;
        let at = event.at;
        let entry = |kind: EntryKind| TimelineEntry { seq: event.seq, at, actor: event.actor.clone(), kind };
        match &event.fact {
            Fact::IncidentDeclared { incident, title, severity, impact, drill } => {
                let mut inc = Incident {
                    id: *incident,
                    title: title.clone(),
                    impact: impact.clone(),
                    severity: *severity,
                    status: Status::Declared,
                    drill: *drill,
                    declared_by: event.actor.clone(),
                    closure: None,
                    // Whoever declares commands until they hand over.
                    roles: BTreeMap::from([(Role::IncidentCommander, event.actor.clone())]),
                    milestones: BTreeMap::from([(Milestone::Declared, at)]),
                    timeline: Vec::new(),
                    updated_at: at,
                };
                inc.timeline.push(entry(EntryKind::Declared { title: title.clone(), severity: *severity }));
                self.incidents.insert(*incident, inc);
            }
            Fact::Redacted => {}
            fact => {
                let Some(inc) = fact.incident().and_then(|id| self.incidents.get_mut(&id)) else {
                    return;
                };
                inc.updated_at = at;
                let kind = match fact {
                    Fact::NoteAdded { text, .. } => EntryKind::Note { text: text.clone() },
                    Fact::StatusChanged { from, to, reason, closure, .. } => {
                        inc.status = *to;
                        inc.closure = *closure;
                        if let Some(m) = to.milestone() {
                            inc.milestones.entry(m).or_insert(at);
                        }
                        EntryKind::StatusChange { from: *from, to: *to, reason: reason.clone() }
                    }
                    Fact::SeverityChanged { from, to, .. } => {
                        inc.severity = *to;
                        EntryKind::SeverityChange { from: *from, to: *to }
                    }
                    Fact::RoleAssigned { assigned_role, person, previous, .. } => {
                        inc.roles.insert(*assigned_role, person.clone());
                        EntryKind::RoleChange {
                            role: *assigned_role,
                            person: person.clone(),
                            previous: previous.clone(),
                        }
                    }
                    Fact::MilestoneSet { milestone, time, .. } => {
                        inc.milestones.insert(*milestone, *time);
                        EntryKind::Milestone { milestone: *milestone, time: *time }
                    }
                    Fact::IncidentDeclared { .. } | Fact::Redacted => unreachable!("handled above"),
                };
                inc.timeline.push(entry(kind));
            }
        }
    }

    /// Incidents in the order a responder wants them: open first, worst first, oldest first.
    pub fn incidents_by_priority(&self) -> Vec<&Incident> {
        let mut list: Vec<&Incident> = self.incidents.values().collect();
        list.sort_by_key(|i| (!i.status.is_open(), i.severity, i.declared_at(), i.id));
        list
    }
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
            seq: first_seq + i as u64,
            at,
            actor: actor.to_string(),
            role,
            command_id,
            fact,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn t(s: u32) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_795_000_000 + s as i64, 0).unwrap()
    }

    /// Decides and applies like the server does, returning the events.
    fn run(state: &mut State, actor: &str, intent: Intent) -> Result<Vec<Event>, Rejection> {
        let facts = state.decide(&intent)?;
        let events =
            stamp(state.seq + 1, t(state.seq as u32 * 60), actor, UserRole::Commander, Uuid::new_v4(), facts);
        for e in &events {
            state.apply(e);
        }
        Ok(events)
    }

    fn declare(state: &mut State, title: &str, sev: Severity) -> IncidentId {
        let ev = run(
            state,
            "alice",
            Intent::DeclareIncident { title: title.into(), severity: sev, impact: "".into(), drill: false },
        )
        .unwrap();
        ev[0].fact.incident().unwrap()
    }

    #[test]
    fn declaring_numbers_incidents_and_makes_the_declarer_commander() {
        let mut s = State::default();
        let a = declare(&mut s, "Checkout is down", Severity::Sev1);
        let b = declare(&mut s, "Prices differ", Severity::Sev3);
        assert_eq!((a, b), (IncidentId(1), IncidentId(2)));
        let inc = s.incident(a).unwrap();
        assert_eq!(inc.commander(), Some("alice"));
        assert_eq!(inc.status, Status::Declared);
        assert_eq!(inc.milestone(Milestone::Declared), Some(t(0)));
        assert_eq!(inc.timeline.len(), 1);
        assert_eq!(s.seq, 2);
    }

    #[test]
    fn a_response_leaves_a_typed_timeline_and_stamps_milestones() {
        let mut s = State::default();
        let id = declare(&mut s, "Payments failing", Severity::Sev2);
        run(&mut s, "bob", Intent::AddNote { incident: id, text: "PSP returns 502".into() }).unwrap();
        run(&mut s, "alice", Intent::SetStatus { incident: id, status: Status::Investigating, reason: None })
            .unwrap();
        run(&mut s, "alice", Intent::SetSeverity { incident: id, severity: Severity::Sev1 }).unwrap();
        run(&mut s, "alice", Intent::AssignRole { incident: id, role: Role::Scribe, person: "carol".into() })
            .unwrap();
        run(&mut s, "alice", Intent::SetStatus { incident: id, status: Status::Mitigated, reason: None })
            .unwrap();
        let inc = s.incident(id).unwrap();
        let tags: Vec<_> = inc.timeline.iter().map(|e| e.kind.tag()).collect();
        assert_eq!(tags, ["declared", "note", "status", "severity", "role", "status"]);
        assert_eq!(inc.timeline[1].actor, "bob");
        assert_eq!(inc.severity, Severity::Sev1);
        assert_eq!(inc.roles[&Role::Scribe], "carol");
        assert!(inc.milestone(Milestone::Acknowledged).is_some());
        assert!(inc.milestone(Milestone::Mitigated).is_some());
        assert!(inc.durations().time_to_mitigate.is_some());
    }

    #[test]
    fn refusals_name_the_reason_and_change_nothing() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        let before = s.clone();
        assert_eq!(
            run(&mut s, "a", Intent::AddNote { incident: IncidentId(9), text: "n".into() }).unwrap_err(),
            Rejection::UnknownIncident(IncidentId(9))
        );
        assert!(matches!(
            run(&mut s, "a", Intent::AddNote { incident: id, text: "  ".into() }),
            Err(Rejection::Invalid { field: "text", .. })
        ));
        assert!(matches!(
            run(&mut s, "a", Intent::SetStatus { incident: id, status: Status::Closed, reason: None }),
            Err(Rejection::Conflict(_))
        ));
        assert!(matches!(
            run(&mut s, "a", Intent::SetSeverity { incident: id, severity: Severity::Sev2 }),
            Err(Rejection::Conflict(_))
        ));
        let long = "x".repeat(MAX_TITLE + 1);
        assert!(matches!(
            run(
                &mut s,
                "a",
                Intent::DeclareIncident {
                    title: long,
                    severity: Severity::Sev1,
                    impact: "".into(),
                    drill: false
                }
            ),
            Err(Rejection::Invalid { field: "title", .. })
        ));
        assert_eq!(s, before);
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
    fn every_fact_survives_the_wire_inside_its_envelope() {
        let inc = IncidentId(2);
        let facts = vec![
            Fact::IncidentDeclared {
                incident: inc,
                title: "t".into(),
                severity: Severity::Sev2,
                impact: "i".into(),
                drill: true,
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
