//! The hub: the committed state every reader sees, the broadcast of committed events that
//! feeds every stream subscriber, who holds how many streams, and what each caller may see
//! of it ([`View`]: private incidents). Only the writer changes state.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use axum::body::Bytes;
use tokio::sync::broadcast;

use super::writer::Caller;
use crate::model::{Event, Fact, IncidentId, State, UserRole};

/// Subscribers further behind than this are told to re-sync instead of silently skipping.
pub const STREAM_BUFFER: usize = 16 * 1024;

/// A committed event as one ready-to-send SSE frame, built once for every subscriber; for an
/// event about a private incident, also its placeholder, built once for every subscriber
/// who may not see it. Each subscriber picks one: two frames per event at most.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub frame: Bytes,
    /// For the server's own observers (the notifier).
    pub event: Event,
    /// The private incident whose people alone may see it; `None` for everyone.
    pub audience: Option<IncidentId>,
    /// The `redacted` frame for everyone else (empty when `audience` is `None`).
    pub redacted: Bytes,
}

/// The audience class of a caller: which private incidents they see. Everything served to a
/// caller (snapshot, event pages, the stream, acks) is filtered by it; callers with equal
/// views share one serialization. Most callers see no private incident: `Only({})`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    /// Admins see everything.
    All,
    Only(BTreeSet<IncidentId>),
}

impl View {
    /// What `caller` sees in `state`: decided by the current membership, so a member added
    /// later reads the incident's past too, and one removed no longer does.
    pub fn of(state: &State, caller: &Caller) -> View {
        if caller.role == UserRole::Admin {
            return View::All;
        }
        View::Only(
            state
                .incidents
                .values()
                .filter(|i| i.private && View::sees_incident(i, caller))
                .map(|i| i.id)
                .collect(),
        )
    }

    /// Whether `caller` sees `incident`, without building their whole view: what
    /// `View::of(state, caller).sees(audience)` answers for this one incident.
    pub fn sees_incident(incident: &crate::model::Incident, caller: &Caller) -> bool {
        !incident.private || caller.role == UserRole::Admin || incident.visible_to(&caller.name, caller.role)
    }

    pub fn sees(&self, audience: Option<IncidentId>) -> bool {
        match (self, audience) {
            (_, None) | (View::All, _) => true,
            (View::Only(set), Some(id)) => set.contains(&id),
        }
    }

    /// The stored form of an audience (`INC-7`). One that does not read as an incident id
    /// (a damaged or newer database) is shown to admins only: fail closed.
    pub fn sees_stored(&self, audience: Option<&str>) -> bool {
        match audience {
            None => true,
            Some(a) => match a.parse::<IncidentId>() {
                Ok(id) => self.sees(Some(id)),
                Err(_) => *self == View::All,
            },
        }
    }

    /// Whether `state` holds a private incident this view does not see.
    pub fn hides_any(&self, state: &State) -> bool {
        state.incidents.values().any(|i| i.private && !self.sees(Some(i.id)))
    }

    /// `state` without the private incidents this view does not see, borrowed (a large
    /// state is not copied per audience class), serializing exactly as a `State` would.
    pub fn filter<'s>(&self, state: &'s State) -> Filtered<'s> {
        Filtered {
            seq: state.seq,
            incidents: state.incidents.iter().filter(|(id, _)| self.sees(audience_of(state, **id))).collect(),
            probes: &state.probes,
            components: &state.components,
        }
    }

    /// Sets whether this view sees `id`; true when that changed it.
    pub fn set(&mut self, id: IncidentId, sees: bool) -> bool {
        match self {
            View::All => false,
            View::Only(set) if sees => set.insert(id),
            View::Only(set) => set.remove(&id),
        }
    }
}

/// A [`State`] seen through a [`View`]: the same fields and serde attributes, borrowed.
#[derive(serde::Serialize)]
pub struct Filtered<'s> {
    seq: u64,
    incidents: std::collections::BTreeMap<&'s IncidentId, &'s crate::model::Incident>,
    #[serde(skip_serializing_if = "is_empty")]
    probes: &'s std::collections::BTreeMap<String, crate::model::probe::ProbeState>,
    #[serde(skip_serializing_if = "is_empty")]
    components: &'s std::collections::BTreeMap<String, crate::model::incident::ComponentStatus>,
}

fn is_empty<K, V>(map: &&std::collections::BTreeMap<K, V>) -> bool {
    map.is_empty()
}

/// Who may read `event`, once applied to `state`: the private incident it is about, if any.
pub fn audience(state: &State, event: &Event) -> Option<IncidentId> {
    event.fact.incident().and_then(|id| audience_of(state, id))
}

/// `Some(id)` when incident `id` is private (only its people and admins may read about it).
fn audience_of(state: &State, id: IncidentId) -> Option<IncidentId> {
    state.incidents.get(&id).filter(|i| i.private).map(|i| i.id)
}

/// What a reader who may not see an event gets instead: same seq and time, kind `redacted`,
/// no actor, no command id, no body. Seqs stay gap-free for everyone.
pub fn placeholder(event: &Event) -> Event {
    Event {
        seq: event.seq,
        at: event.at,
        actor: String::new(),
        role: UserRole::Observer,
        command_id: uuid::Uuid::nil(),
        fact: Fact::Redacted,
    }
}

/// The placeholder of a stored event, as JSON. The body is decoded only for its time; a body
/// that does not decode gets the epoch (its content is withheld either way).
pub fn placeholder_json(seq: u64, body: &str) -> String {
    let at = serde_json::from_str::<Event>(body).map_or(chrono::DateTime::UNIX_EPOCH, |e| e.at);
    let event = Event {
        seq,
        at,
        actor: String::new(),
        role: UserRole::Observer,
        command_id: uuid::Uuid::nil(),
        fact: Fact::Redacted,
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// `id: seq` / `event: kind` / `data: json`. Compact JSON never contains a raw newline,
/// so one `data:` line is always enough.
pub fn sse_frame(seq: u64, kind: &str, json: &str) -> Bytes {
    Bytes::from(format!("id: {seq}\nevent: {kind}\ndata: {json}\n\n"))
}

pub struct Hub {
    /// The log's identity (see `Store::log_id`).
    pub log: uuid::Uuid,
    state: RwLock<State>,
    /// For the server's own observers (snapshots, reactor, notifier): a handful of
    /// receivers, sent to on the writer's thread so that an acked event is already theirs.
    events: broadcast::Sender<Arc<Published>>,
    /// For event streams: fed by the relay thread, never by the writer (see [`Relay`]).
    streams_out: broadcast::Sender<Arc<Published>>,
    relay: Relay,
    streams: Arc<StreamCounts>,
}

/// Hands committed events to the stream broadcast from a thread of its own. Sending wakes
/// every waiting subscriber (10,000 wake-ups per event with 10,000 streams); on the writer's
/// thread that stood between every commit and its acks.
enum Relay {
    Thread(std::sync::mpsc::Sender<Vec<Arc<Published>>>),
    /// The thread could not start: the writer sends itself (slower acks, same events).
    Inline,
}

impl Relay {
    fn start(out: broadcast::Sender<Arc<Published>>) -> std::io::Result<Relay> {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Arc<Published>>>();
        std::thread::Builder::new().name("warroom-relay".into()).spawn(move || {
            // Fan-out work: requests and the writer come first (see `conn::lower_priority`).
            super::conn::lower_priority();
            // Ends when the hub (the only sender) is dropped.
            while let Ok(batch) = rx.recv() {
                for published in batch {
                    // No subscribers is fine.
                    let _ = out.send(published);
                }
            }
        })?;
        Ok(Relay::Thread(tx))
    }
}

/// Open event streams per user, so that no one user's streams can crowd out everyone else's.
struct StreamCounts {
    per_user: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream, counted against its user until dropped.
pub struct StreamSlot {
    counts: Arc<StreamCounts>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl Hub {
    /// `streams_per_user`: how many event streams one user may hold open at once.
    pub fn new(log: uuid::Uuid, state: State, streams_per_user: usize) -> Hub {
        let (events, _) = broadcast::channel(STREAM_BUFFER);
        let (streams_out, _) = broadcast::channel(STREAM_BUFFER);
        let relay = Relay::start(streams_out.clone()).unwrap_or_else(|e| {
            crate::stderr!(
                "warroom: starting the event relay thread: {e} (the writer will wake streams itself)"
            );
            Relay::Inline
        });
        let streams = Arc::new(StreamCounts { per_user: streams_per_user, open: Mutex::default() });
        Hub { log, state: RwLock::new(state), events, streams_out, relay, streams }
    }

    /// Counts a new stream for `user`; `Err(cap)` when the user already holds `cap` of them.
    pub fn open_stream(&self, user: &str) -> Result<StreamSlot, usize> {
        // Counts only: a panic while holding the lock leaves nothing half-done to protect.
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(user.to_string()).or_insert(0);
        if *n >= self.streams.per_user {
            return Err(self.streams.per_user);
        }
        *n += 1;
        Ok(StreamSlot { counts: self.streams.clone(), user: user.to_string() })
    }

    /// The users holding at least one event stream open now.
    pub fn open_users(&self) -> Vec<String> {
        self.streams.open.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-applied in a way readers
        // could misuse more than a crash would, so poisoning is ignored.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Committed events for the server's own observers: an event is sent before its ack.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.events.subscribe()
    }

    /// Committed events for an event stream: sent by the relay, in seq order, after they are
    /// applied to the state (possibly after their ack).
    pub fn subscribe_stream(&self) -> broadcast::Receiver<Arc<Published>> {
        self.streams_out.subscribe()
    }

    /// Applies committed events, then announces them: a subscriber that reads the state
    /// after subscribing never misses an event (the relay sends only events already applied,
    /// so one it sees twice, in its catch-up and live, is skipped by seq).
    pub fn publish(&self, committed: &[(Event, Arc<str>, Option<IncidentId>)]) {
        if committed.is_empty() {
            return;
        }
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            for (event, _, _) in committed {
                state.apply(event);
            }
        }
        let mut relayed = Vec::with_capacity(committed.len());
        for (event, json, audience) in committed {
            let frame = sse_frame(event.seq, event.fact.kind(), json);
            let redacted = match audience {
                None => Bytes::new(),
                Some(_) => {
                    let p = placeholder(event);
                    sse_frame(p.seq, p.fact.kind(), &serde_json::to_string(&p).unwrap_or_default())
                }
            };
            let published =
                Published { seq: event.seq, frame, event: event.clone(), audience: *audience, redacted };
            let published = Arc::new(published);
            // No observers is fine.
            let _ = self.events.send(published.clone());
            relayed.push(published);
        }
        match &self.relay {
            Relay::Thread(tx) => {
                if let Err(std::sync::mpsc::SendError(batch)) = tx.send(relayed) {
                    // The relay thread died (it cannot panic short of a bug): send here.
                    for published in batch {
                        let _ = self.streams_out.send(published);
                    }
                }
            }
            Relay::Inline => {
                for published in relayed {
                    let _ = self.streams_out.send(published);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{stamp, Intent, Severity};

    fn declared(s: &mut State, who: &str, private: bool) {
        let intent = Intent::DeclareIncident {
            title: format!("by {who}"),
            severity: Severity::Sev5,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private,
        };
        let facts = s.decide(&intent).unwrap();
        let at = chrono::DateTime::UNIX_EPOCH;
        for e in stamp(s.seq + 1, at, who, UserRole::Commander, uuid::Uuid::nil(), facts) {
            s.apply(&e);
        }
    }

    /// `Filtered` copies `State`'s fields by hand: a field added to `State` and forgotten
    /// there would vanish from every snapshot. Seeing everything must serialize identically.
    #[test]
    fn a_view_that_hides_nothing_serializes_exactly_as_the_state() {
        let golden: State = serde_json::from_str(include_str!("../../tests/golden/state.json")).unwrap();
        assert!(!golden.incidents.is_empty() && !golden.probes.is_empty(), "a rich state");
        let whole = serde_json::to_string(&golden).unwrap();
        assert_eq!(serde_json::to_string(&View::All.filter(&golden)).unwrap(), whole);
        assert_eq!(serde_json::to_string(&View::Only(BTreeSet::new()).filter(&golden)).unwrap(), whole);
    }

    fn caller(name: &str, role: UserRole) -> Caller {
        Caller { name: name.into(), role }
    }

    #[test]
    fn a_view_hides_other_peoples_private_incidents_and_fails_closed_on_a_strange_audience() {
        let mut s = State::default();
        declared(&mut s, "alice", true);
        declared(&mut s, "alice", false);
        let bob = View::of(&s, &caller("bob", UserRole::Commander));
        let alice = View::of(&s, &caller("alice", UserRole::Responder));
        let root = View::of(&s, &caller("root", UserRole::Admin));
        assert_eq!(bob, View::Only(BTreeSet::new()));
        assert!(alice.sees(Some(IncidentId(1))) && root.sees(Some(IncidentId(1))));
        assert!(!bob.sees(Some(IncidentId(1))) && bob.sees(None));
        // The one-incident answer (acks, fetches) is the whole view's answer.
        for (view, who) in
            [(&bob, caller("bob", UserRole::Commander)), (&alice, caller("alice", UserRole::Responder))]
        {
            for inc in s.incidents.values() {
                assert_eq!(
                    View::sees_incident(inc, &who),
                    view.sees(inc.private.then_some(inc.id)),
                    "{}",
                    who.name
                );
            }
        }
        // A stored audience this build cannot read is for admins only.
        assert!(!alice.sees_stored(Some("game-day-villains")) && root.sees_stored(Some("game-day-villains")));
        assert!(alice.sees_stored(Some("INC-1")) && !bob.sees_stored(Some("INC-1")));
        // Filtered, the state serializes like a State without the hidden incident; a view that
        // hides nothing serializes exactly like the state itself.
        let json = serde_json::to_string(&bob.filter(&s)).unwrap();
        let mut expected = s.clone();
        expected.incidents.remove(&IncidentId(1));
        assert_eq!(json, serde_json::to_string(&expected).unwrap());
        assert!(bob.hides_any(&s) && !alice.hides_any(&s) && !root.hides_any(&s));
        assert_eq!(serde_json::to_string(&alice.filter(&s)).unwrap(), serde_json::to_string(&s).unwrap());
    }
}
