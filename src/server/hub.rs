//! The hub: the committed state every reader sees, the broadcast of committed events that
//! feeds every stream subscriber, who holds how many streams, and what each caller may see
//! of it ([`View`]: private incidents). Only the writer changes state.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use axum::body::Bytes;
use tokio::sync::broadcast;

use super::writer::Caller;
use crate::model::gameday::{GameDayId, GameDays};
use crate::model::{Event, Fact, IncidentId, State, UserRole};

/// Subscribers further behind than this are told to re-sync instead of silently skipping.
pub const STREAM_BUFFER: usize = 16 * 1024;

/// A committed event as one ready-to-send SSE frame, built once for every subscriber; for an
/// event not everyone may read, also its placeholder, built once for every subscriber who may
/// not. Each subscriber picks one: two frames per event at most.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub frame: Bytes,
    /// For the server's own observers (the notifier).
    pub event: Event,
    /// Who may read it.
    pub audience: Readers,
    /// The `redacted` frame for everyone else (empty when everyone may read it).
    pub redacted: Bytes,
}

/// Who may read an event: everyone; a private incident's people; a game day's villains and
/// game master until its debrief (its plans, and in the styles that hide it, its chaos); or
/// both at once. Stored beside the event as `INC-7`, `GD-2` or `INC-7 GD-2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Readers {
    pub incident: Option<IncidentId>,
    pub plot: Option<GameDayId>,
}

impl Readers {
    pub const EVERYONE: Readers = Readers { incident: None, plot: None };

    pub fn is_everyone(&self) -> bool {
        *self == Readers::EVERYONE
    }

    /// The stored form; `None` for everyone.
    pub fn stored(&self) -> Option<String> {
        match (self.incident, self.plot) {
            (None, None) => None,
            (Some(i), None) => Some(i.to_string()),
            (None, Some(g)) => Some(g.to_string()),
            (Some(i), Some(g)) => Some(format!("{i} {g}")),
        }
    }

    /// Reads a stored form; `None` for one this build cannot read.
    pub fn parse(stored: &str) -> Option<Readers> {
        let mut r = Readers::EVERYONE;
        for part in stored.split(' ') {
            if part.starts_with("GD-") && r.plot.is_none() {
                r.plot = Some(part.parse().ok()?);
            } else if part.starts_with("INC-") && r.incident.is_none() {
                r.incident = Some(part.parse().ok()?);
            } else {
                return None;
            }
        }
        (!r.is_everyone()).then_some(r)
    }
}

/// The audience class of a caller: which private incidents they see, and which game days'
/// secrets are kept from them. Everything served to a caller (snapshot, event pages, the
/// stream, acks) is filtered by it; callers with equal views share one serialization. Most
/// callers see no private incident and no game day is on: `{Some({}), {}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct View {
    /// `None`: every private incident (admins).
    incidents: Option<BTreeSet<IncidentId>>,
    /// Game days whose plot this caller may not know yet (heroes' view before debrief).
    hidden: BTreeSet<GameDayId>,
}

impl View {
    /// Everything: admins.
    pub fn all() -> View {
        View { incidents: None, hidden: BTreeSet::new() }
    }

    pub fn is_all(&self) -> bool {
        self.incidents.is_none() && self.hidden.is_empty()
    }

    /// What `caller` sees in `state`: decided by the current membership, so a member added
    /// later reads the incident's past too, and one removed no longer does; and by the game
    /// days' stages, so a debrief reveals a game day's past to everyone.
    pub fn of(state: &State, caller: &Caller) -> View {
        let hidden = if knows_plots(caller.role) {
            BTreeSet::new()
        } else {
            state.gamedays.0.values().filter(|g| g.stage.hides()).map(|g| g.id).collect()
        };
        if caller.role == UserRole::Admin {
            return View { incidents: None, hidden };
        }
        let incidents = state
            .incidents
            .values()
            .filter(|i| i.private && View::sees_incident(i, caller))
            .map(|i| i.id)
            .collect();
        View { incidents: Some(incidents), hidden }
    }

    /// Whether `caller` sees `incident`, without building their whole view: what
    /// `View::of(state, caller).sees(audience)` answers for this one incident.
    pub fn sees_incident(incident: &crate::model::Incident, caller: &Caller) -> bool {
        !incident.private || caller.role == UserRole::Admin || incident.visible_to(&caller.name, caller.role)
    }

    /// Whether `caller` may read an event for `readers` in `state` now, without building
    /// their whole view (acks).
    pub fn may_read(state: &State, caller: &Caller, readers: Readers) -> bool {
        let incident = readers
            .incident
            .is_none_or(|id| state.incidents.get(&id).is_some_and(|i| View::sees_incident(i, caller)));
        let plot = readers.plot.is_none_or(|g| {
            knows_plots(caller.role) || state.gamedays.0.get(&g).is_none_or(|g| !g.stage.hides())
        });
        incident && plot
    }

    pub fn sees(&self, readers: Readers) -> bool {
        let incident = match (&self.incidents, readers.incident) {
            (_, None) | (None, _) => true,
            (Some(set), Some(id)) => set.contains(&id),
        };
        incident && readers.plot.is_none_or(|g| !self.hidden.contains(&g))
    }

    /// The stored form of an audience. One this build cannot read (a damaged or newer
    /// database) is shown to admins only: fail closed.
    pub fn sees_stored(&self, audience: Option<&str>) -> bool {
        match audience {
            None => true,
            Some(a) => match Readers::parse(a) {
                Some(r) => self.sees(r),
                None => self.is_all(),
            },
        }
    }

    /// Whether `state` holds anything this view does not see.
    pub fn hides_any(&self, state: &State) -> bool {
        !self.hidden.is_empty()
            || state
                .incidents
                .values()
                .any(|i| i.private && !self.sees(Readers { incident: Some(i.id), plot: None }))
    }

    /// `state` as this view may see it, borrowed where nothing is hidden (a large state is not
    /// copied per audience class), serializing exactly as a `State` would: without the private
    /// incidents it does not see, and without what the game days it is kept from hide (their
    /// plans; their runs, in the styles that hide them). That is exactly the state its reader
    /// folds from the events it is sent (the hidden ones come as placeholders).
    pub fn filter<'s>(&self, state: &'s State) -> Filtered<'s> {
        let hides_run = |r: &crate::model::chaos::Run| {
            r.gameday.is_some_and(|g| {
                self.hidden.contains(&g) && state.gamedays.0.get(&g).is_some_and(|g| g.style.hides_chaos())
            })
        };
        let chaos = if self.hidden.is_empty() || !state.chaos.runs.values().any(hides_run) {
            Cow::Borrowed(&state.chaos)
        } else {
            let mut chaos = state.chaos.clone();
            chaos.runs.retain(|_, r| !hides_run(r));
            Cow::Owned(chaos)
        };
        let gamedays = if self.hidden.is_empty() {
            Cow::Borrowed(&state.gamedays)
        } else {
            let mut days = state.gamedays.clone();
            for g in days.0.values_mut().filter(|g| self.hidden.contains(&g.id)) {
                g.plans = Vec::new();
            }
            Cow::Owned(days)
        };
        Filtered {
            seq: state.seq,
            incidents: state
                .incidents
                .iter()
                .filter(|(id, _)| self.sees(Readers { incident: audience_of(state, **id), plot: None }))
                .map(|(id, i)| (id, &**i))
                .collect(),
            probes: &state.probes,
            components: &state.components,
            chaos,
            gamedays,
        }
    }

    /// Sets whether this view sees private incident `id`; true when that changed it.
    pub fn set(&mut self, id: IncidentId, sees: bool) -> bool {
        match &mut self.incidents {
            None => false,
            Some(set) if sees => set.insert(id),
            Some(set) => set.remove(&id),
        }
    }

    /// Sets whether game day `id`'s plot is kept from this view; true when that changed it.
    pub fn set_hidden(&mut self, id: GameDayId, hidden: bool) -> bool {
        if hidden {
            self.hidden.insert(id)
        } else {
            self.hidden.remove(&id)
        }
    }
}

/// Villains and admins (the game master) know every game day's plot.
pub fn knows_plots(role: UserRole) -> bool {
    matches!(role, UserRole::Villain | UserRole::Admin)
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
    #[serde(skip_serializing_if = "no_chaos")]
    chaos: Cow<'s, crate::model::chaos::Chaos>,
    #[serde(skip_serializing_if = "no_gamedays")]
    gamedays: Cow<'s, GameDays>,
}

fn is_empty<K, V>(map: &&std::collections::BTreeMap<K, V>) -> bool {
    map.is_empty()
}

fn no_chaos<C: std::ops::Deref<Target = crate::model::chaos::Chaos>>(c: &C) -> bool {
    c.is_empty()
}

fn no_gamedays<G: std::ops::Deref<Target = GameDays>>(g: &G) -> bool {
    g.is_empty()
}

/// Who may read `event`, once applied to `state`.
pub fn audience(state: &State, event: &Event) -> Readers {
    Readers {
        incident: event.fact.incident().and_then(|id| audience_of(state, id)),
        plot: plot_of(state, &event.fact),
    }
}

/// The game day whose secret `fact` is: its plans always, and its runs' facts when its style
/// hides them. Halts and arming are everyone's business (safety first).
fn plot_of(state: &State, fact: &Fact) -> Option<GameDayId> {
    match fact {
        Fact::ScenarioPlanned { gameday, .. } => Some(*gameday),
        Fact::ScenarioStarted { run, .. }
        | Fact::ScenarioStopping { run, .. }
        | Fact::ChaosStep { run, .. }
        | Fact::ScenarioEnded { run, .. } => {
            let g = state.chaos.runs.get(run)?.gameday?;
            state.gamedays.0.get(&g).filter(|g| g.style.hides_chaos()).map(|g| g.id)
        }
        _ => None,
    }
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
            tracing::warn!("starting the event relay thread: {e} (the writer will wake streams itself)");
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

    /// Each user holding event streams open now, and how many (for `/metrics`).
    pub fn open_streams(&self) -> Vec<(String, usize)> {
        self.streams
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(u, n)| (u.clone(), *n))
            .collect()
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
    pub fn publish(&self, committed: &[(Event, Arc<str>, Readers)]) {
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
            let redacted = match audience.is_everyone() {
                true => Bytes::new(),
                false => {
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
        assert_eq!(serde_json::to_string(&View::all().filter(&golden)).unwrap(), whole);
        assert_eq!(
            serde_json::to_string(&View::of(&golden, &caller("nobody", UserRole::Responder)).filter(&golden))
                .unwrap(),
            whole
        );
    }

    fn inc1() -> Readers {
        Readers { incident: Some(IncidentId(1)), plot: None }
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
        assert!(!bob.hides_any(&State::default()));
        assert!(alice.sees(inc1()) && root.sees(inc1()));
        assert!(!bob.sees(inc1()) && bob.sees(Readers::EVERYONE));
        // The one-incident answer (acks, fetches) is the whole view's answer.
        for (view, who) in
            [(&bob, caller("bob", UserRole::Commander)), (&alice, caller("alice", UserRole::Responder))]
        {
            for inc in s.incidents.values() {
                assert_eq!(
                    View::sees_incident(inc, &who),
                    view.sees(Readers { incident: inc.private.then_some(inc.id), plot: None }),
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

    /// A hero's snapshot is exactly the state they would fold from the events they are sent
    /// (the hidden ones as placeholders), at every point of a hidden game day; at debrief
    /// they see all of it, and villains always do.
    #[test]
    fn a_heros_view_of_a_hidden_game_day_is_the_fold_of_what_they_are_sent() {
        use crate::model::chaos::{RunId, StepKind, Verdict};
        use crate::model::gameday::{GameDayId, Style};
        use crate::model::probe::Health;
        use crate::model::{Context, Intent, Library};
        let lib = Library {
            scenarios: vec![crate::model::chaos::parse(crate::model::chaos::tests::PRICE_DESYNC)
                .unwrap()
                .info()],
            ..Library::default()
        };
        for style in [Style::DungeonsAndDragons, Style::FireDrill, Style::Informed] {
            let g = GameDayId(1);
            let script: Vec<(&str, UserRole, Intent)> = vec![
                ("gm", UserRole::Admin, Intent::CreateGameday { name: "d&d".into(), style }),
                ("gm", UserRole::Admin, Intent::AddTeam { gameday: g, team: "red".into() }),
                (
                    "bob",
                    UserRole::Responder,
                    Intent::JoinTeam { gameday: g, team: "red".into(), person: None },
                ),
                (
                    "gm",
                    UserRole::Admin,
                    Intent::PlanScenario {
                        gameday: g,
                        scenario: "price-desync".into(),
                        briefing: None,
                        note: "villain note".into(),
                        par_detect_minutes: None,
                        par_mitigate_minutes: None,
                        weights: Default::default(),
                    },
                ),
                ("gm", UserRole::Admin, Intent::StartGameday { gameday: g }),
                ("vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() }),
                (
                    "warroom",
                    UserRole::Admin,
                    Intent::RecordChaos {
                        run: RunId(1),
                        step: StepKind::Inject,
                        phase: Some(0),
                        driver: "demo".into(),
                        ok: true,
                        output: "price_desync on".into(),
                    },
                ),
                (
                    "warroom",
                    UserRole::Admin,
                    Intent::RecordProbe {
                        probe: "search".into(),
                        health: Health::Down,
                        failed: vec![],
                        auto_declare: None,
                    },
                ),
                (
                    "bob",
                    UserRole::Responder,
                    Intent::DeclareIncident {
                        title: "search is off".into(),
                        severity: Severity::Sev2,
                        impact: String::new(),
                        drill: false,
                        services: vec!["search".into()],
                        private: false,
                    },
                ),
                (
                    "gm",
                    UserRole::Admin,
                    Intent::GiveHint { gameday: g, team: "red".into(), plan: Some(1), text: "prices".into() },
                ),
                ("vera", UserRole::Villain, Intent::HaltAll { reason: "too far".into() }),
                (
                    "warroom",
                    UserRole::Admin,
                    Intent::FinishScenario {
                        run: RunId(1),
                        verdict: Some(Verdict { deviated: true, probes: Default::default() }),
                    },
                ),
                ("gm", UserRole::Admin, Intent::EndGameday { gameday: g }),
            ];
            let (hero, villain) = (caller("bob", UserRole::Responder), caller("vera", UserRole::Villain));
            let mut state = State::default();
            let mut log: Vec<(Event, Readers)> = Vec::new();
            for (i, (actor, role, intent)) in script.into_iter().enumerate() {
                let cx = Context {
                    library: &lib,
                    now: chrono::DateTime::UNIX_EPOCH,
                    command_id: uuid::Uuid::nil(),
                    role,
                    actor,
                };
                let facts =
                    state.decide_with(&intent, &cx).unwrap_or_else(|e| panic!("{style} step {i}: {e}"));
                for e in
                    stamp(state.seq + 1, chrono::DateTime::UNIX_EPOCH, actor, role, uuid::Uuid::nil(), facts)
                {
                    state.apply(&e);
                    let readers = audience(&state, &e);
                    log.push((e, readers));
                }
                for who in [&hero, &villain] {
                    let view = View::of(&state, who);
                    let mut folded = State::default();
                    for (e, readers) in &log {
                        folded.apply(&if view.sees(*readers) { e.clone() } else { placeholder(e) });
                    }
                    let sent = serde_json::to_string(&folded).unwrap();
                    assert_eq!(
                        serde_json::to_string(&view.filter(&state)).unwrap(),
                        sent,
                        "{style}, {} after step {i}",
                        who.name
                    );
                    let ended = state.gamedays.0[&g].stage == crate::model::gameday::Stage::Debrief;
                    let secret =
                        ["price-desync", "villain note", "price_desync on"].iter().any(|s| sent.contains(s));
                    let should_hide = who.role != UserRole::Villain && !ended && (i >= 3);
                    if should_hide {
                        assert!(!sent.contains("villain note"), "{style}: the plan leaks after step {i}");
                        if style.hides_chaos() {
                            assert!(
                                !secret,
                                "{style}: a secret leaks to {} after step {i}: {sent}",
                                who.name
                            );
                        }
                    } else if i >= 5 {
                        assert!(secret, "{style}: {} misses the plot after step {i}", who.name);
                    }
                }
            }
        }
    }
}
