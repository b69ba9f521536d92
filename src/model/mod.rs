//! The pure domain: the shared war-room state and the two functions everything rests on,
//! `decide` (intent → facts, or a refusal) and `apply` (fact → new state). No I/O, no clock.

pub mod access;
pub mod comms;
pub mod event;
pub mod incident;
pub mod intent;
pub mod library;
pub mod playbook;
pub mod probe;
#[cfg(test)]
mod props;
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

pub use library::Library;
pub use playbook::Audience;
pub use timeline::{EntryKind, TimelineEntry};

use intent::{
    check_count, check_len, check_text, clip, MAX_DETAIL, MAX_FAILED, MAX_NAME, MAX_SERVICES, MAX_TEXT,
    MAX_TITLE, MILESTONE_SLACK,
};

/// Everything every responder sees. Maps are ordered so equal states serialize equally.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The seq of the last event applied.
    pub seq: u64,
    pub incidents: BTreeMap<IncidentId, Incident>,
    /// Each probe's health: only changes are events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<String, probe::ProbeState>,
    /// Status page components a human set by hand (they stop following their probe).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, incident::ComponentStatus>,
}

impl State {
    pub fn incident(&self, id: IncidentId) -> Result<&Incident, Rejection> {
        self.incidents.get(&id).ok_or(Rejection::UnknownIncident(id))
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
            },
        )
    }

    /// Turns an intent into the facts it causes, or says why it cannot happen now.
    pub fn decide_with(&self, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
        let fact = match intent {
            Intent::DeclareIncident { title, severity, impact, drill, services } => {
                check_text("title", title, MAX_TITLE)?;
                check_len("impact", impact, MAX_TEXT)?;
                check_count("services", services, MAX_SERVICES)?;
                for (i, s) in services.iter().enumerate() {
                    check_len("services", s, MAX_NAME).map_err(|e| match e {
                        Rejection::Invalid { field, detail } => {
                            Rejection::Invalid { field, detail: format!("entry {} {detail}", i + 1) }
                        }
                        other => other,
                    })?;
                }
                let incident = self.next_incident_id()?;
                let declared = Fact::IncidentDeclared {
                    incident,
                    title: title.trim().to_string(),
                    severity: *severity,
                    impact: impact.trim().to_string(),
                    drill: *drill,
                    services: services
                        .iter()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                };
                // Communicate first: the default playbook comes with the declaration.
                return Ok(match cx.library.default_for(*severity, *drill) {
                    Some(checklist) => vec![declared, Fact::PlaybookAttached { incident, checklist }],
                    None => vec![declared],
                });
            }
            Intent::AddNote { incident, text } => {
                self.incident(*incident)?;
                check_text("text", text, MAX_TEXT)?;
                Fact::NoteAdded { incident: *incident, text: text.clone() }
            }
            Intent::SetStatus { incident, status, reason } => {
                let inc = self.incident(*incident)?;
                if let Some(r) = reason {
                    check_len("reason", r, MAX_TEXT)?;
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
                check_milestone_time(*time, cx.now)?;
                Fact::MilestoneSet { incident: *incident, milestone: *milestone, time: *time }
            }
            Intent::AttachPlaybook { incident, playbook } => {
                self.incident(*incident)?;
                check_text("playbook", playbook, MAX_NAME)?;
                let checklist = cx.library.checklist(playbook).ok_or_else(|| Rejection::Invalid {
                    field: "playbook",
                    detail: format!(
                        "no playbook `{playbook}` on this server (have: {})",
                        cx.library.playbooks.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                })?;
                Fact::PlaybookAttached { incident: *incident, checklist }
            }
            Intent::TickStep { incident, step } | Intent::UntickStep { incident, step } => {
                check_text("step", step, MAX_NAME)?;
                let s = self.step(*incident, step)?;
                let tick = matches!(intent, Intent::TickStep { .. });
                match (&s.ticked, tick) {
                    (Some(t), true) => {
                        return Err(Rejection::Conflict(format!(
                            "{step} was already ticked by {} at {}",
                            t.by,
                            t.at.format("%H:%M:%S")
                        )))
                    }
                    (None, false) => return Err(Rejection::Conflict(format!("{step} is not ticked"))),
                    (None, true) => Fact::StepTicked { incident: *incident, step: step.clone(), by: None },
                    (Some(_), false) => Fact::StepUnticked { incident: *incident, step: step.clone() },
                }
            }
            Intent::AssignStep { incident, step, person } => {
                check_text("step", step, MAX_NAME)?;
                self.step(*incident, step)?;
                check_text("person", person, MAX_NAME)?;
                Fact::StepAssigned {
                    incident: *incident,
                    step: step.clone(),
                    person: person.trim().to_string(),
                }
            }
            Intent::SendMessage { incident, channel, text, step } => {
                self.incident(*incident)?;
                check_text("text", text, MAX_TEXT)?;
                check_text("channel", channel, MAX_NAME)?;
                if let Some(s) = step {
                    check_text("step", s, MAX_NAME)?;
                }
                let info = cx.library.channels.get(channel).ok_or_else(|| Rejection::Invalid {
                    field: "channel",
                    detail: format!(
                        "no channel `{channel}` on this server (have: {})",
                        cx.library.channels.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                })?;
                if let Some(s) = step {
                    self.step(*incident, s)?;
                }
                Fact::MessageQueued {
                    incident: *incident,
                    message: cx.command_id,
                    channel: channel.clone(),
                    audience: info.audience,
                    text: text.clone(),
                    step: step.clone(),
                }
            }
            Intent::SnoozeClock { incident, audience, minutes } => {
                let inc = self.incident(*incident)?;
                if !(1..=240).contains(minutes) {
                    return Err(Rejection::Invalid {
                        field: "minutes",
                        detail: "must be between 1 and 240".into(),
                    });
                }
                let clock =
                    comms::clocks(inc).into_iter().find(|c| c.audience == *audience).ok_or_else(|| {
                        Rejection::Conflict(format!("{incident} has no {} clock running", audience.label()))
                    })?;
                if clock.due == comms::NEVER {
                    return Err(Rejection::Conflict(format!(
                        "the {} update of {incident} is never due: nothing to snooze",
                        clock.audience.label()
                    )));
                }
                let until = clock
                    .due
                    .max(cx.now)
                    .checked_add_signed(chrono::Duration::minutes(i64::from(*minutes)))
                    .ok_or_else(|| Rejection::Invalid {
                        field: "minutes",
                        detail: "would snooze past the last representable time".into(),
                    })?;
                Fact::ClockSnoozed { incident: *incident, audience: *audience, until }
            }
            Intent::SetComponent { component, status } => {
                check_text("component", component, MAX_NAME)?;
                let overridden = self.components.contains_key(component);
                if status.is_none() && !overridden {
                    return Err(Rejection::Conflict(format!("{component} already follows its probe")));
                }
                // The public page lists the configured probes and what a commander or an admin
                // put there on purpose: a responder's typo must not invent a component.
                let known = overridden || cx.library.components.iter().any(|c| c == component);
                if !known && !cx.role.may_create_components() {
                    return Err(Rejection::UnknownComponent(component.clone()));
                }
                Fact::ComponentSet { component: component.clone(), status: *status }
            }
            Intent::RecordProbe { probe, health, failed, auto_declare } => {
                check_text("probe", probe, MAX_NAME)?;
                // The failures explain the change; too many or too long ones are cut, not
                // refused, so the change itself is never lost.
                let mut failed_cut: Vec<String> =
                    failed.iter().take(MAX_FAILED).map(|f| clip(f, MAX_DETAIL)).collect();
                if failed.len() > MAX_FAILED {
                    failed_cut.push(format!("… and {} more", failed.len() - MAX_FAILED));
                }
                let failed = &failed_cut;
                let from = self.probes.get(probe).map_or(probe::Health::Unknown, |p| p.health);
                if from == *health {
                    return Err(Rejection::Conflict(format!("{probe} is already {health}")));
                }
                let mut facts = vec![Fact::ProbeChanged {
                    probe: probe.clone(),
                    from,
                    to: *health,
                    failed: failed.clone(),
                }];
                let linked =
                    self.incidents.values().any(|i| i.status.is_open() && i.services.contains(probe));
                if let (Some(severity), true, false) = (auto_declare, *health == probe::Health::Down, linked)
                {
                    // During a game day (an open drill), what the probes find is part of it.
                    let drill = self.incidents.values().any(|i| i.status.is_open() && i.drill);
                    let incident = self.next_incident_id()?;
                    facts.push(Fact::IncidentDeclared {
                        incident,
                        title: format!("{probe} is down"),
                        severity: *severity,
                        impact: clip(&failed.join("; "), MAX_TEXT),
                        drill,
                        services: vec![probe.clone()],
                    });
                    if let Some(checklist) = cx.library.default_for(*severity, drill) {
                        facts.push(Fact::PlaybookAttached { incident, checklist });
                    }
                }
                return Ok(facts);
            }
            Intent::RecordDelivery { incident, message, ok, detail, last } => {
                let inc = self.incident(*incident)?;
                let msg = inc.messages.iter().find(|m| m.id == *message).ok_or_else(|| {
                    Rejection::Invalid { field: "message", detail: format!("no message {message}") }
                })?;
                if !matches!(msg.delivery, comms::Delivery::Pending { .. }) {
                    return Err(Rejection::Conflict(format!("message {message} is no longer pending")));
                }
                // What the receiver said is cut, not refused: the delivery must be recorded.
                let detail = &clip(detail, MAX_DETAIL);
                if !*ok {
                    return Ok(vec![Fact::MessageFailed {
                        incident: *incident,
                        message: *message,
                        error: detail.clone(),
                        last: *last,
                    }]);
                }
                let mut facts = vec![Fact::MessageDelivered {
                    incident: *incident,
                    message: *message,
                    detail: detail.clone(),
                }];
                // Sending a step's message is doing the step.
                if let Some(step) = &msg.step {
                    if self.step(*incident, step).is_ok_and(|s| s.ticked.is_none()) {
                        let by = Some(msg.by.clone());
                        facts.push(Fact::StepTicked { incident: *incident, step: step.clone(), by });
                    }
                }
                return Ok(facts);
            }
        };
        Ok(vec![fact])
    }

    fn step(&self, incident: IncidentId, step: &str) -> Result<&comms::StepState, Rejection> {
        let inc = self.incident(incident)?;
        let list = inc
            .checklist
            .as_ref()
            .ok_or_else(|| Rejection::Conflict(format!("{incident} has no playbook attached")))?;
        list.step(step).ok_or_else(|| Rejection::Invalid {
            field: "step",
            detail: format!(
                "no step `{step}` in {} (have: {})",
                list.playbook,
                list.steps.iter().map(|s| s.step.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })
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
        let at = event.at;
        let entry = |kind: EntryKind| TimelineEntry { seq: event.seq, at, actor: event.actor.clone(), kind };
        match &event.fact {
            Fact::IncidentDeclared { incident, title, severity, impact, drill, services } => {
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
                    checklist: None,
                    messages: Vec::new(),
                    snoozed: BTreeMap::new(),
                    services: services.clone(),
                };
                inc.timeline.push(entry(EntryKind::Declared { title: title.clone(), severity: *severity }));
                self.incidents.insert(*incident, inc);
            }
            Fact::Redacted => {}
            Fact::ProbeChanged { probe, from, to, failed } => {
                self.probes.insert(
                    probe.clone(),
                    probe::ProbeState { health: *to, since: at, failed: failed.clone() },
                );
                // Every open incident about this service hears of it; a bad turn is the
                // moment of detection if nobody recorded one.
                // A first "up" (a probe just started) is no news to an incident.
                let news = !(*from == probe::Health::Unknown && *to == probe::Health::Up);
                for inc in self
                    .incidents
                    .values_mut()
                    .filter(|i| news && i.status.is_open() && i.services.contains(probe))
                {
                    inc.updated_at = at;
                    if to.is_bad() {
                        inc.milestones.entry(Milestone::Detected).or_insert(at);
                    }
                    inc.timeline.push(entry(EntryKind::Health {
                        probe: probe.clone(),
                        health: *to,
                        failed: failed.clone(),
                    }));
                }
            }
            Fact::ComponentSet { component, status } => match status {
                Some(s) => {
                    self.components.insert(component.clone(), *s);
                }
                None => {
                    self.components.remove(component);
                }
            },
            fact => {
                let Some(inc) = fact.incident().and_then(|id| self.incidents.get_mut(&id)) else {
                    return;
                };
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
                    Fact::PlaybookAttached { checklist, .. } => {
                        let mut list = checklist.clone();
                        // Switching playbooks keeps the work already done on shared steps.
                        if let Some(old) = &inc.checklist {
                            for s in &mut list.steps {
                                if let Some(prev) = old.step(&s.step.id) {
                                    s.ticked = prev.ticked.clone();
                                    s.assignee = prev.assignee.clone();
                                }
                            }
                        }
                        let entry = EntryKind::Playbook {
                            playbook: list.playbook.clone(),
                            title: list.title.clone(),
                        };
                        inc.checklist = Some(list);
                        entry
                    }
                    Fact::StepTicked { step, by, .. } => {
                        let Some(s) = inc.checklist.as_mut().and_then(|l| l.step_mut(step)) else { return };
                        let by = by.clone().unwrap_or_else(|| event.actor.clone());
                        s.ticked = Some(comms::Tick { by, at });
                        EntryKind::Step {
                            step: step.clone(),
                            title: s.step.title.clone(),
                            action: "ticked".into(),
                        }
                    }
                    Fact::StepUnticked { step, .. } => {
                        let Some(s) = inc.checklist.as_mut().and_then(|l| l.step_mut(step)) else { return };
                        s.ticked = None;
                        EntryKind::Step {
                            step: step.clone(),
                            title: s.step.title.clone(),
                            action: "unticked".into(),
                        }
                    }
                    Fact::StepAssigned { step, person, .. } => {
                        let Some(s) = inc.checklist.as_mut().and_then(|l| l.step_mut(step)) else { return };
                        s.assignee = Some(person.clone());
                        EntryKind::Step {
                            step: step.clone(),
                            title: s.step.title.clone(),
                            action: format!("assigned to {person}:"),
                        }
                    }
                    Fact::MessageQueued { message, channel, audience, text, step, .. } => {
                        inc.messages.push(comms::Message {
                            id: *message,
                            channel: channel.clone(),
                            audience: *audience,
                            text: text.clone(),
                            step: step.clone(),
                            by: event.actor.clone(),
                            at,
                            delivery: comms::Delivery::Pending { attempts: 0, error: None },
                        });
                        EntryKind::Message {
                            channel: channel.clone(),
                            audience: *audience,
                            text: text.clone(),
                        }
                    }
                    Fact::MessageDelivered { message, detail, .. } => {
                        let Some(m) = inc.messages.iter_mut().find(|m| m.id == *message) else { return };
                        m.delivery = comms::Delivery::Delivered { at, detail: detail.clone() };
                        let detail = if detail.is_empty() {
                            "delivered".to_string()
                        } else {
                            format!("delivered ({detail})")
                        };
                        EntryKind::Delivery { channel: m.channel.clone(), ok: true, detail }
                    }
                    Fact::MessageFailed { message, error, last, .. } => {
                        let Some(m) = inc.messages.iter_mut().find(|m| m.id == *message) else { return };
                        let attempts = match &m.delivery {
                            comms::Delivery::Pending { attempts, .. } => attempts.saturating_add(1),
                            _ => 1,
                        };
                        m.delivery = if *last {
                            comms::Delivery::Failed { attempts, error: error.clone() }
                        } else {
                            comms::Delivery::Pending { attempts, error: Some(error.clone()) }
                        };
                        let detail = if *last {
                            format!("gave up after {attempts} attempts: {error}")
                        } else {
                            format!("attempt {attempts} failed: {error}; retrying")
                        };
                        EntryKind::Delivery { channel: m.channel.clone(), ok: false, detail }
                    }
                    Fact::ClockSnoozed { audience, until, .. } => {
                        inc.snoozed.insert(*audience, *until);
                        EntryKind::Snoozed { audience: *audience, until: *until }
                    }
                    Fact::Unknown(u) => EntryKind::Unreadable { fact_kind: u.kind.clone() },
                    // Handled above; named here so a new fact has to choose its place.
                    Fact::IncidentDeclared { .. }
                    | Fact::Redacted
                    | Fact::ProbeChanged { .. }
                    | Fact::ComponentSet { .. } => return,
                };
                // Only a fact that wrote an entry counts as activity.
                inc.updated_at = at;
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

/// Milestones record what already happened: not before the epoch (no incident is older,
/// and times before it are typos like a year 0), and at most [`MILESTONE_SLACK`] after the
/// deciding clock. That keeps every time the clocks and metrics add to far from the end of
/// the representable range.
fn check_milestone_time(time: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Rejection> {
    let latest = now.checked_add_signed(MILESTONE_SLACK).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let detail = if time < DateTime::UNIX_EPOCH {
        format!("{} is before 1970", time.to_rfc3339())
    } else if time > latest {
        format!("{} is more than a day after now ({})", time.to_rfc3339(), now.to_rfc3339())
    } else {
        return Ok(());
    };
    Err(Rejection::Invalid { field: "time", detail })
}

/// What `decide` may know besides the state: the server's library, the time, the id of the
/// command being decided (it names the message a `send_message` creates), and the role of
/// whoever sent it (for rules that depend on both the role and the state).
pub struct Context<'a> {
    pub library: &'a Library,
    pub now: DateTime<Utc>,
    pub command_id: uuid::Uuid,
    pub role: UserRole,
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
            Intent::DeclareIncident {
                title: title.into(),
                severity: sev,
                impact: "".into(),
                drill: false,
                services: Vec::new(),
            },
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
                    drill: false,
                    services: Vec::new()
                }
            ),
            Err(Rejection::Invalid { field: "title", .. })
        ));
        assert_eq!(s, before);
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
                Intent::SendMessage { incident: id, channel: long(MAX_NAME), text: "t".into(), step: None },
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
    fn the_servers_own_reports_are_cut_not_refused() {
        let s = State::default();
        let failed = vec!["x".repeat(5000); 40];
        let facts = s
            .decide(&Intent::RecordProbe {
                probe: "payment".into(),
                health: probe::Health::Down,
                failed,
                auto_declare: Some(Severity::Sev2),
            })
            .unwrap();
        let Fact::ProbeChanged { failed, .. } = &facts[0] else { panic!("{facts:?}") };
        assert_eq!(failed.len(), MAX_FAILED + 1);
        assert_eq!(failed.last().map(String::as_str), Some("… and 8 more"));
        assert!(failed.iter().all(|f| f.chars().count() <= MAX_DETAIL + 1));
        let Fact::IncidentDeclared { impact, .. } = &facts[1] else { panic!("{facts:?}") };
        assert!(impact.chars().count() <= MAX_TEXT + 1);
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
            Fact::StepTicked { incident: last, step: "nope".into(), by: None },
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
    fn only_commanders_and_admins_add_status_page_components() {
        use incident::ComponentStatus::MajorOutage;
        let library = Library { components: vec!["payment".into()], ..Library::default() };
        let s = State::default();
        let as_role = |role, component: &str| {
            let cx = Context { library: &library, now: t(0), command_id: Uuid::nil(), role };
            let intent = Intent::SetComponent { component: component.into(), status: Some(MajorOutage) };
            s.decide_with(&intent, &cx)
        };
        assert!(as_role(UserRole::Responder, "payment").is_ok(), "a configured probe is a component");
        assert_eq!(
            as_role(UserRole::Responder, "paymnet"),
            Err(Rejection::UnknownComponent("paymnet".into())),
            "a responder's typo invents nothing"
        );
        assert!(as_role(UserRole::Commander, "cdn").is_ok());
        assert!(as_role(UserRole::Admin, "cdn").is_ok());
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
                services: Vec::new(),
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
