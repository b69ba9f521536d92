//! Windowed state: after a year a war room holds ten thousand closed incidents and a million
//! timeline entries, which nobody looks at at once. A copy of the state may keep closed
//! incidents as summaries; the fold is the same `apply`, and what it dropped is fetched on
//! demand (the server folds it again from the log's per-incident index).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Event, Fact, Incident, IncidentId, State};

/// How much of a closed incident a copy of the state keeps. Dropping happens when the
/// incident closes (or when a copy is windowed), and again whenever a summary hears more;
/// a fetched full incident that a client adopted stays full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Window {
    /// Everything: what folding the whole log gives (tests, replays, the golden state).
    #[default]
    Full,
    /// Closed incidents without their timelines: what the server decides with. `decide`
    /// never reads a timeline, so it decides exactly as on the full state.
    Timelines,
    /// Closed incidents as summaries (no timeline, messages or checklist): what clients get.
    Summaries,
}

/// What a windowed copy of an incident does not hold, all of it from before the incident
/// closed. Absent on a full incident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elided {
    /// The first `timeline` entries are not held; those held come after them.
    pub timeline: u64,
    /// Messages not held (a summary).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub messages: u64,
    /// Whether a checklist was attached but is not held (a summary).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub checklist: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Incident {
    /// Whether this copy holds everything the full fold holds.
    pub fn is_full(&self) -> bool {
        self.elided.is_none()
    }

    /// How many timeline entries the incident has, held or not.
    pub fn timeline_len(&self) -> u64 {
        let held = u64::try_from(self.timeline.len()).unwrap_or(u64::MAX);
        self.elided.as_ref().map_or(0, |e| e.timeline).saturating_add(held)
    }

    /// Drops what `window` does not keep of a closed incident; open ones are kept whole.
    pub fn window(&mut self, window: Window) {
        if window == Window::Full || self.status.is_open() {
            return;
        }
        let elided = self.elided.get_or_insert_with(Elided::default);
        let dropped = u64::try_from(self.timeline.len()).unwrap_or(u64::MAX);
        elided.timeline = elided.timeline.saturating_add(dropped);
        self.timeline = Vec::new();
        if window == Window::Summaries {
            let dropped = u64::try_from(self.messages.len()).unwrap_or(u64::MAX);
            elided.messages = elided.messages.saturating_add(dropped);
            self.messages = Vec::new();
            elided.checklist |= self.checklist.take().is_some();
            self.snoozed.clear();
        }
    }
}

impl Incident {
    /// A copy of this closed incident as `window` keeps it, without copying what it drops
    /// first: what `clone()` then [`Incident::window`] give.
    fn windowed_copy(&self, window: Window) -> Incident {
        let Incident {
            id,
            title,
            impact,
            severity,
            status,
            drill,
            declared_by,
            closure,
            roles,
            milestones,
            timeline,
            updated_at,
            checklist,
            messages,
            snoozed,
            services,
            private,
            members,
            caused_by,
            gameday,
            team,
            postmortem,
            actions,
            elided,
        } = self;
        let summary = window == Window::Summaries;
        let mut copy = Incident {
            id: *id,
            title: title.clone(),
            impact: impact.clone(),
            severity: *severity,
            status: *status,
            drill: *drill,
            declared_by: declared_by.clone(),
            closure: *closure,
            roles: roles.clone(),
            milestones: milestones.clone(),
            timeline: Vec::new(),
            updated_at: *updated_at,
            checklist: if summary { None } else { checklist.clone() },
            messages: if summary { Vec::new() } else { messages.clone() },
            snoozed: if summary { Default::default() } else { snoozed.clone() },
            services: services.clone(),
            private: *private,
            members: members.clone(),
            caused_by: *caused_by,
            gameday: *gameday,
            team: team.clone(),
            postmortem: postmortem.clone(),
            actions: actions.clone(),
            elided: elided.clone(),
        };
        let cut = copy.elided.get_or_insert_with(Elided::default);
        cut.timeline = cut.timeline.saturating_add(u64::try_from(timeline.len()).unwrap_or(u64::MAX));
        if summary {
            cut.messages = cut.messages.saturating_add(u64::try_from(messages.len()).unwrap_or(u64::MAX));
            cut.checklist |= checklist.is_some();
        }
        copy
    }
}

/// What [`State::adopt`] did with a fetched full incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// It replaced the summary.
    Done,
    /// It is newer than this state: adopt it once the state reaches its seq.
    Later,
    /// It is older than this state (events came in meanwhile): fetch it again.
    Stale,
}

impl State {
    /// This state, keeping only what `window` keeps; every later `apply` keeps to it.
    pub fn windowed(mut self, window: Window) -> State {
        self.set_window(window);
        self
    }

    pub fn set_window(&mut self, window: Window) {
        self.window = window;
        for inc in self.incidents.values_mut() {
            if window == Window::Full || inc.status.is_open() {
                continue;
            }
            match Arc::get_mut(inc) {
                Some(own) => own.window(window),
                // Shared with another copy of the state: copy only what the window keeps.
                None => *inc = Arc::new(inc.windowed_copy(window)),
            }
        }
    }

    /// Takes `full`, the full fold of one incident as of `seq`, in place of what this copy
    /// holds of it. Only at the same seq is it exactly what this copy would hold unwindowed.
    pub fn adopt(&mut self, full: Incident, seq: u64) -> Adopted {
        match seq.cmp(&self.seq) {
            std::cmp::Ordering::Greater => Adopted::Later,
            std::cmp::Ordering::Less => Adopted::Stale,
            std::cmp::Ordering::Equal => {
                self.incidents.insert(full.id, Arc::new(full));
                Adopted::Done
            }
        }
    }

    /// The incidents whose timeline `event` writes to, asked before applying it: what the
    /// log's per-incident index records, so one incident's full fold reads only its events.
    pub fn touched(&self, event: &Event) -> Vec<IncidentId> {
        match &event.fact {
            Fact::IncidentDeclared { incident, .. } => vec![*incident],
            Fact::ProbeChanged { probe, from, to, .. } => {
                super::probe::hearing(self, probe, *from, *to).collect()
            }
            Fact::ComponentSet { .. } | Fact::Redacted => Vec::new(),
            fact => fact.incident().filter(|id| self.incidents.contains_key(id)).into_iter().collect(),
        }
    }
}

/// The full fold of one incident from its events (those [`State::touched`] names it in), in
/// order: exactly what folding the whole log holds of it.
pub fn fold_incident<'e>(id: IncidentId, events: impl IntoIterator<Item = &'e Event>) -> Option<Incident> {
    let mut state = State::default();
    for e in events {
        // Seqs of one incident's events are increasing but not consecutive.
        state.seq = e.seq.saturating_sub(1);
        state.apply(e);
    }
    state.incidents.remove(&id).map(Arc::unwrap_or_clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::comms::Delivery;
    use crate::model::probe::Health;
    use crate::model::{stamp, Intent, Severity, Status, UserRole};

    fn run(s: &mut State, log: &mut Vec<Event>, intent: Intent) {
        let facts = s.decide(&intent).unwrap_or_else(|e| panic!("{intent:?}: {e}"));
        let at = chrono::DateTime::UNIX_EPOCH + chrono::Duration::seconds(s.seq as i64 + 1_000_000);
        for e in stamp(s.seq + 1, at, "ann", UserRole::Admin, uuid::Uuid::new_v4(), facts) {
            s.apply(&e);
            log.push(e);
        }
    }

    /// Two incidents about `checkout`, one closed while the probe flaps, notes after closing.
    fn a_log() -> Vec<Event> {
        let mut s = State::default();
        let mut log = Vec::new();
        let declare = |title: &str| Intent::DeclareIncident {
            title: title.into(),
            severity: Severity::Sev2,
            impact: "slow".into(),
            drill: false,
            services: vec!["checkout".into()],
            private: false,
        };
        let probe = |health| Intent::RecordProbe {
            probe: "checkout".into(),
            health,
            failed: vec!["500".into()],
            auto_declare: None,
        };
        run(&mut s, &mut log, probe(Health::Up));
        run(&mut s, &mut log, declare("one"));
        run(&mut s, &mut log, declare("two"));
        run(&mut s, &mut log, probe(Health::Down));
        let one = IncidentId(1);
        run(&mut s, &mut log, Intent::AddNote { incident: one, text: "looking".into() });
        run(
            &mut s,
            &mut log,
            Intent::SetStatus { incident: one, status: Status::Closed, reason: Some("duplicate".into()) },
        );
        run(&mut s, &mut log, probe(Health::Up));
        run(&mut s, &mut log, Intent::AddNote { incident: one, text: "after closing".into() });
        run(&mut s, &mut log, Intent::AddNote { incident: IncidentId(2), text: "two's".into() });
        log
    }

    fn fold(log: &[Event], window: Window) -> State {
        let mut s = State::default().windowed(window);
        for e in log {
            s.apply(e);
        }
        s
    }

    #[test]
    fn an_incidents_own_events_fold_to_what_the_whole_log_holds_of_it() {
        let log = a_log();
        let full = fold(&log, Window::Full);
        let mut s = State::default();
        for id in [IncidentId(1), IncidentId(2)] {
            let mine: Vec<&Event> = log
                .iter()
                .filter(|e| {
                    let touched = s.touched(e).contains(&id);
                    s.apply(e);
                    touched
                })
                .collect();
            s = State::default();
            assert_eq!(fold_incident(id, mine).as_ref(), full.incidents.get(&id).map(|i| &**i), "{id}");
        }
        // The probe's turn to down reached both; its turn back up only the open one.
        assert!(full.incidents[&IncidentId(1)].timeline.iter().any(|e| e.kind.tag() == "health"));
        assert_eq!(
            full.incidents[&IncidentId(2)].timeline.iter().filter(|e| e.kind.tag() == "health").count(),
            2
        );
    }

    #[test]
    fn windows_drop_only_what_closed_and_keep_counting() {
        let log = a_log();
        let full = fold(&log, Window::Full);
        for window in [Window::Timelines, Window::Summaries] {
            let s = fold(&log, window);
            let (one, full_one) = (&s.incidents[&IncidentId(1)], &full.incidents[&IncidentId(1)]);
            assert_eq!(one.timeline_len(), full_one.timeline_len(), "{window:?}");
            // The note written after closing is counted, not held: a closed incident that
            // keeps hearing notes does not grow a copy.
            assert!(one.timeline.is_empty(), "{window:?}");
            assert_eq!(one.status, Status::Closed);
            // Open incidents are whole; the same windowing of a full state gives the same.
            assert_eq!(s.incidents[&IncidentId(2)], full.incidents[&IncidentId(2)]);
            assert_eq!(s.probes, full.probes);
            let mut later = full.clone().windowed(window);
            // Windowing after the fact drops the tail too; the counts agree.
            assert_eq!(later.incidents[&IncidentId(1)].timeline_len(), full_one.timeline_len());
            // A fetched full incident is adopted at the same seq only.
            assert_eq!(later.adopt(Incident::clone(full_one), s.seq + 1), Adopted::Later);
            assert_eq!(later.adopt(Incident::clone(full_one), s.seq - 1), Adopted::Stale);
            assert_eq!(later.adopt(Incident::clone(full_one), s.seq), Adopted::Done);
            assert_eq!(later.incidents[&IncidentId(1)], *full_one);
        }
    }

    fn a_status_update() -> crate::model::comms::Message {
        crate::model::comms::Message {
            id: uuid::Uuid::nil(),
            channel: "status".into(),
            audience: crate::model::Audience::StatusPage,
            text: "we are on it".into(),
            step: None,
            by: "ann".into(),
            at: chrono::DateTime::UNIX_EPOCH,
            delivery: Delivery::Pending { attempts: 0, error: None },
            status: None,
        }
    }

    #[test]
    fn a_summary_forgets_messages_and_checklist_but_says_so() {
        let mut inc = fold(&a_log(), Window::Full).incidents[&IncidentId(1)].as_ref().clone();
        inc.messages.push(a_status_update());
        let mut timelines = inc.clone();
        timelines.window(Window::Timelines);
        assert_eq!(timelines.messages.len(), 1, "the server keeps messages to decide and deliver");
        inc.window(Window::Summaries);
        assert!(inc.messages.is_empty() && inc.timeline.is_empty());
        assert_eq!(inc.elided.as_ref().map(|e| e.messages), Some(1));
        assert!(!inc.is_full());
        // It reads back as it was written (the snapshot a client is sent).
        let json = serde_json::to_string(&inc).unwrap();
        assert_eq!(serde_json::from_str::<Incident>(&json).unwrap(), inc);
    }

    #[test]
    fn windowing_a_shared_copy_cuts_exactly_as_windowing_its_own() {
        let mut full = fold(&a_log(), Window::Full);
        let one = Arc::make_mut(full.incidents.get_mut(&IncidentId(1)).unwrap());
        assert!(!one.status.is_open() && !one.timeline.is_empty());
        one.messages.push(a_status_update());
        one.snoozed.insert(crate::model::Audience::StatusPage, chrono::DateTime::UNIX_EPOCH);
        let unshared = |s: &State| State {
            incidents: s.incidents.iter().map(|(id, i)| (*id, Arc::new(Incident::clone(i)))).collect(),
            ..s.clone()
        };
        for window in [Window::Timelines, Window::Summaries] {
            // `full` still holds every incident, so windowing the clone copies them.
            let shared = full.clone().windowed(window);
            let own = unshared(&full).windowed(window);
            assert_eq!(shared, own, "{window:?}");
            assert!(full.incidents[&IncidentId(1)].is_full(), "the shared original is untouched");
            // Twice: what was cut before is counted on.
            let again = |s: &State| s.clone().windowed(Window::Summaries);
            assert_eq!(again(&shared), unshared(&own).windowed(Window::Summaries), "{window:?} twice");
        }
    }
}
