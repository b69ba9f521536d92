//! Replaying an incident: positions over every event from its declaration to its last entry,
//! folded exactly as the log has them, and a player that plays them in scaled time.
//! Pure: no clock is read and nothing is fetched; "now" is passed in by whoever drives it.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::chaos::RunId;
use crate::model::{EntryKind, Event, Fact, Incident, IncidentId, State, Status, Window};

/// The speeds `+` and `-` step through (any other comes from `--speed`).
pub const SPEEDS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The longest quiet stretch played in full, in replay time; longer ones are cut to this
/// and marked (`--max-gap`). A night between two notes should not be ten minutes of nothing.
pub const MAX_GAP: Duration = Duration::from_secs(10);

/// Copies of the state kept along the events to step back from (more cost memory: each is a
/// whole state; fewer cost folding time on a step back).
const CHECKPOINTS: usize = 8;
/// Events between two checkpoints at least: folding this many takes well under a frame.
const MIN_EVERY: usize = 256;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    #[error("{0} has no timeline to replay")]
    Empty(IncidentId),
    #[error("the events do not follow on: seq {got} came after {after}")]
    Gap { after: u64, got: u64 },
    #[error("the events end at seq {end}, before {incident}'s last entry ({last})")]
    Short { incident: IncidentId, end: u64, last: u64 },
}

/// What the replay needs to know of the incident: what concerns it.
#[derive(Debug, Clone)]
struct Concern {
    id: IncidentId,
    services: BTreeSet<String>,
    runs: BTreeSet<RunId>,
}

impl Concern {
    fn of(inc: &Incident) -> Concern {
        let mut runs: BTreeSet<RunId> = inc.caused_by.into_iter().collect();
        runs.extend(inc.timeline.iter().filter_map(|e| match &e.kind {
            EntryKind::CausedBy { run, .. } => Some(*run),
            _ => None,
        }));
        Concern { id: inc.id, services: inc.services.iter().cloned().collect(), runs }
    }

    /// Its own facts, its chaos runs' and the probes (and status components) of its services.
    fn concerns(&self, fact: &Fact) -> bool {
        if fact.incident() == Some(self.id) {
            return true;
        }
        match fact {
            Fact::ProbeChanged { probe, .. } => self.services.contains(probe),
            Fact::ComponentSet { component, .. } => self.services.contains(component),
            Fact::ScenarioStarted { run, .. }
            | Fact::ScenarioStopping { run, .. }
            | Fact::ChaosStep { run, .. }
            | Fact::ScenarioEnded { run, .. } => self.runs.contains(run),
            Fact::ChaosHalted { runs, .. } => runs.iter().any(|r| self.runs.contains(r)),
            _ => false,
        }
    }
}

/// An incident's events as positions. A position is an event: at position `i` the state is
/// the base (the state just before the incident's first event) with events `0..=i` folded in,
/// exactly what `GET /api/v1/state?at=` answers for that event's seq, but for the incidents
/// closed meanwhile, held here whole (a replay shows them; the server's answer has summaries).
#[derive(Debug, Clone)]
pub struct Replay {
    concern: Concern,
    events: Vec<Event>,
    concerns: Vec<bool>,
    /// `checkpoints[k]`: the base with the first `k * every` events folded in.
    checkpoints: Vec<State>,
    every: usize,
    state: State,
    pos: usize,
}

impl Replay {
    /// `incident`: its full fold (its first and last entries bound the replay); `base`: the
    /// state as of the seq before its first entry; `events`: every event from that entry to
    /// its last (more after it are left out).
    pub fn new(incident: &Incident, base: State, events: Vec<Event>) -> Result<Replay, ReplayError> {
        let (Some(first), Some(last)) = (incident.timeline.first(), incident.timeline.last()) else {
            return Err(ReplayError::Empty(incident.id));
        };
        let (first, last) = (first.seq, last.seq);
        let mut events: Vec<Event> = events.into_iter().skip_while(|e| e.seq < first).collect();
        events.retain(|e| e.seq <= last);
        let mut after = base.seq;
        for e in &events {
            if e.seq != after + 1 {
                return Err(ReplayError::Gap { after, got: e.seq });
            }
            after = e.seq;
        }
        if after < last || events.is_empty() {
            return Err(ReplayError::Short { incident: incident.id, end: after, last });
        }
        let concern = Concern::of(incident);
        let concerns = events.iter().map(|e| concern.concerns(&e.fact)).collect();
        let every = events.len().div_ceil(CHECKPOINTS).max(MIN_EVERY);
        let mut state = base.windowed(Window::Full);
        let mut checkpoints = vec![state.clone()];
        for (i, e) in events.iter().enumerate() {
            if i > 0 && i % every == 0 {
                checkpoints.push(state.clone());
            }
            state.apply(e);
        }
        let mut replay = Replay { concern, events, concerns, checkpoints, every, state, pos: 0 };
        replay.state = replay.fold(1);
        Ok(replay)
    }

    /// The state with the first `n` events folded in, from the nearest checkpoint before.
    fn fold(&self, n: usize) -> State {
        let k = (n / self.every).min(self.checkpoints.len() - 1);
        let mut state = self.checkpoints[k].clone();
        for e in &self.events[k * self.every..n.min(self.events.len())] {
            state.apply(e);
        }
        state
    }

    pub fn incident_id(&self) -> IncidentId {
        self.concern.id
    }

    /// Positions: one per event.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Never: a replay has at least the incident's first event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The event at the position (the last one folded in).
    pub fn event(&self) -> &Event {
        &self.events[self.pos]
    }

    pub fn seq(&self) -> u64 {
        self.event().seq
    }

    /// The state at the position.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The incident as it was at the position.
    pub fn incident(&self) -> Option<&Incident> {
        self.state.incidents.get(&self.concern.id).map(|i| &**i)
    }

    /// Whether the event at `pos` concerns the incident (where `step` stops).
    pub fn concerns(&self, pos: usize) -> bool {
        self.concerns.get(pos).copied().unwrap_or(false)
    }

    /// Incident time at `pos`: how long after the first event it happened.
    pub fn elapsed(&self, pos: usize) -> chrono::Duration {
        let at = self.events.get(pos).map_or(self.first_at(), |e| e.at);
        at - self.first_at()
    }

    fn first_at(&self) -> DateTime<Utc> {
        self.events.first().map_or(DateTime::UNIX_EPOCH, |e| e.at)
    }

    /// Moves to `pos` (clamped), folding forward from here or from the checkpoint before it.
    pub fn go(&mut self, pos: usize) {
        let pos = pos.min(self.events.len().saturating_sub(1));
        if pos >= self.pos {
            for e in &self.events[self.pos + 1..=pos] {
                self.state.apply(e);
            }
        } else {
            self.state = self.fold(pos + 1);
        }
        self.pos = pos;
    }

    /// Moves to the last event at or before `seq`: the state is then exactly the fold of the
    /// base and every event up to `seq` (the first event when `seq` is before it).
    pub fn seek(&mut self, seq: u64) {
        let n = self.events.partition_point(|e| e.seq <= seq);
        self.go(n.saturating_sub(1));
    }

    /// To the next event that concerns the incident, folding every event between; false at
    /// the last one.
    pub fn step_forward(&mut self) -> bool {
        match (self.pos + 1..self.events.len()).find(|&i| self.concerns[i]) {
            Some(i) => {
                self.go(i);
                true
            }
            None => false,
        }
    }

    /// To the previous event that concerns the incident; false at the first one.
    pub fn step_back(&mut self) -> bool {
        match (0..self.pos).rev().find(|&i| self.concerns[i]) {
            Some(i) => {
                self.go(i);
                true
            }
            None => false,
        }
    }

    /// The position one minute (or `by`) of incident time later: the last event at or before
    /// then, or the next event when none is (a seek never stands still before the end).
    pub fn later(&self, by: chrono::Duration) -> usize {
        let until = self.event().at + by;
        let n = self.events.partition_point(|e| e.at <= until);
        n.saturating_sub(1).max((self.pos + 1).min(self.events.len() - 1))
    }

    /// The position `by` of incident time earlier: the first event at or after then, or the
    /// previous one when that is where we are.
    pub fn earlier(&self, by: chrono::Duration) -> usize {
        let from = self.event().at - by;
        let n = self.events.partition_point(|e| e.at < from);
        n.min(self.pos.saturating_sub(1))
    }

    /// Where the incident's status changed, and to what.
    pub fn markers(&self) -> Vec<(usize, Status)> {
        self.events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.fact {
                Fact::StatusChanged { incident, to, .. } if *incident == self.concern.id => Some((i, *to)),
                _ => None,
            })
            .collect()
    }

    /// When each position plays at `speed`, quiet stretches longer than `max_gap` of replay
    /// time cut to it.
    pub fn schedule(&self, speed: f64, max_gap: Duration) -> Schedule {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        // Cut in incident time: a gap longer than `max_gap * speed` plays as that.
        let cap = Duration::try_from_secs_f64(max_gap.as_secs_f64() * speed)
            .ok()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .unwrap_or(chrono::Duration::MAX);
        let mut played = chrono::Duration::zero();
        let mut offsets = Vec::with_capacity(self.events.len());
        let mut shortened = Vec::with_capacity(self.events.len());
        for (i, e) in self.events.iter().enumerate() {
            let gap = match i {
                0 => chrono::Duration::zero(),
                _ => (e.at - self.events[i - 1].at).max(chrono::Duration::zero()),
            };
            shortened.push(gap > cap);
            played += gap.min(cap);
            let secs = played.to_std().map_or(0.0, |d| d.as_secs_f64());
            offsets.push(Duration::try_from_secs_f64(secs / speed).unwrap_or(Duration::MAX));
        }
        Schedule { offsets, shortened }
    }
}

/// When each position plays, in replay time from the first event.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    offsets: Vec<Duration>,
    /// Whether the quiet stretch before each position was cut.
    shortened: Vec<bool>,
}

impl Schedule {
    pub fn offset(&self, pos: usize) -> Duration {
        self.offsets.get(pos).or(self.offsets.last()).copied().unwrap_or_default()
    }

    /// When the last event plays.
    pub fn total(&self) -> Duration {
        self.offsets.last().copied().unwrap_or_default()
    }

    /// The last position due at replay time `t`.
    pub fn position_at(&self, t: Duration) -> usize {
        self.offsets.partition_point(|o| *o <= t).saturating_sub(1)
    }

    /// Whether the quiet stretch before `pos` was cut to the cap.
    pub fn shortened(&self, pos: usize) -> bool {
        self.shortened.get(pos).copied().unwrap_or(false)
    }
}

/// Plays a replay: a playhead in replay time that moves with "now" while playing, and the
/// controls (pause, step, seek, speed). Times are durations since any fixed origin.
#[derive(Debug, Clone)]
pub struct Player {
    replay: Replay,
    speed: f64,
    max_gap: Duration,
    schedule: Schedule,
    playing: bool,
    /// The playhead at `since`.
    head: Duration,
    since: Duration,
}

impl Player {
    /// Starts playing from the first event at `now`.
    pub fn new(replay: Replay, speed: f64, max_gap: Duration, now: Duration) -> Player {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        let schedule = replay.schedule(speed, max_gap);
        let mut player =
            Player { replay, speed, max_gap, schedule, playing: true, head: Duration::ZERO, since: now };
        player.tick(now);
        player
    }

    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn max_gap(&self) -> Duration {
        self.max_gap
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// At the last event with nothing left to play.
    pub fn at_end(&self) -> bool {
        self.replay.position() + 1 == self.replay.len()
    }

    /// The playhead in replay time.
    pub fn clock(&self, now: Duration) -> Duration {
        let moved = if self.playing { now.saturating_sub(self.since) } else { Duration::ZERO };
        (self.head + moved).min(self.schedule.total())
    }

    /// Brings the position up to the playhead; true if it moved. Playing stops at the end.
    pub fn tick(&mut self, now: Duration) -> bool {
        if !self.playing {
            return false;
        }
        let clock = self.clock(now);
        let pos = self.schedule.position_at(clock).max(self.replay.position());
        let moved = pos != self.replay.position();
        self.replay.go(pos);
        if self.at_end() {
            self.hold(now);
        }
        moved
    }

    /// How long from `now` until the next event is due, while playing: when to tick next.
    pub fn next_due(&self, now: Duration) -> Option<Duration> {
        if !self.playing || self.at_end() {
            return None;
        }
        let next = self.schedule.offset(self.replay.position() + 1);
        Some(next.saturating_sub(self.clock(now)))
    }

    /// Stops the playhead where it is.
    fn hold(&mut self, now: Duration) {
        self.head = self.clock(now);
        self.since = now;
        self.playing = false;
    }

    /// Pauses, or plays on (from the start again when at the end).
    pub fn toggle(&mut self, now: Duration) {
        if self.playing {
            self.hold(now);
        } else {
            if self.at_end() {
                self.replay.go(0);
                self.head = Duration::ZERO;
            }
            self.since = now;
            self.playing = true;
        }
    }

    /// Moves to `pos`; the playhead goes with it, playing or not.
    pub fn go(&mut self, pos: usize, now: Duration) {
        self.replay.go(pos);
        self.head = self.schedule.offset(self.replay.position());
        self.since = now;
        if self.at_end() {
            self.playing = false;
        }
    }

    /// To the next event that concerns the incident (staying put at the last one).
    pub fn step_forward(&mut self, now: Duration) {
        self.replay.step_forward();
        self.go(self.replay.position(), now);
    }

    /// To the previous event that concerns the incident (staying put at the first one).
    pub fn step_back(&mut self, now: Duration) {
        self.replay.step_back();
        self.go(self.replay.position(), now);
    }

    /// Seeks `by` of incident time forward (negative: back).
    pub fn seek_by(&mut self, by: chrono::Duration, now: Duration) {
        let pos =
            if by >= chrono::Duration::zero() { self.replay.later(by) } else { self.replay.earlier(-by) };
        self.go(pos, now);
    }

    pub fn home(&mut self, now: Duration) {
        self.go(0, now);
    }

    pub fn end(&mut self, now: Duration) {
        self.go(self.replay.len().saturating_sub(1), now);
    }

    /// Plays at `speed` from here on: the playhead keeps its place between the two events
    /// it is between.
    pub fn set_speed(&mut self, speed: f64, now: Duration) {
        if !(speed.is_finite() && speed > 0.0) {
            return;
        }
        let pos = self.replay.position();
        let clock = self.clock(now);
        let (from, to) = (self.schedule.offset(pos), self.schedule.offset(pos + 1));
        let part = if to > from {
            (clock.saturating_sub(from)).as_secs_f64() / (to - from).as_secs_f64()
        } else {
            0.0
        };
        self.speed = speed;
        self.schedule = self.replay.schedule(speed, self.max_gap);
        let (from, to) = (self.schedule.offset(pos), self.schedule.offset(pos + 1));
        self.head = from + (to.saturating_sub(from)).mul_f64(part.clamp(0.0, 1.0));
        self.since = now;
    }

    /// The next preset speed up.
    pub fn faster(&mut self, now: Duration) {
        if let Some(s) = SPEEDS.iter().find(|s| **s > self.speed * 1.0001) {
            self.set_speed(*s, now);
        }
    }

    /// The next preset speed down.
    pub fn slower(&mut self, now: Duration) {
        if let Some(s) = SPEEDS.iter().rev().find(|s| **s < self.speed / 1.0001) {
            self.set_speed(*s, now);
        }
    }
}

/// `T+mm:ss` style: `04:12`, or `1:04:12` past an hour.
pub fn clock_text(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// `10×`, `2.5×`, `0.5×`.
pub fn speed_text(speed: f64) -> String {
    if speed.fract() == 0.0 {
        format!("{speed:.0}×")
    } else {
        format!("{speed}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::probe::Health;
    use crate::model::{stamp, Intent, Severity, UserRole};

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_795_000_000, 0).unwrap_or_default()
    }

    /// A log written as the server would, each intent at its own time.
    struct Script {
        state: State,
        log: Vec<Event>,
    }

    impl Script {
        fn new() -> Script {
            Script { state: State::default(), log: Vec::new() }
        }

        fn at(&mut self, secs: i64, intent: Intent) -> &mut Script {
            let facts = self.state.decide(&intent).unwrap_or_else(|e| panic!("{}: {e}", intent.kind()));
            let at = t0() + chrono::Duration::seconds(secs);
            for e in stamp(self.state.seq + 1, at, "ann", UserRole::Commander, uuid::Uuid::new_v4(), facts) {
                self.state.apply(&e);
                self.log.push(e);
            }
            self
        }

        /// The fold of the log up to `seq`.
        fn fold(&self, seq: u64) -> State {
            let mut s = State::default();
            for e in self.log.iter().filter(|e| e.seq <= seq) {
                s.apply(e);
            }
            s
        }

        /// The replay of `id`: its full fold, the base before its first entry, the events.
        fn replay(&self, id: IncidentId) -> Replay {
            let inc = &self.state.incidents[&id];
            let first = inc.timeline[0].seq;
            Replay::new(inc, self.fold(first - 1), self.log.clone()).unwrap_or_else(|e| panic!("{e}"))
        }
    }

    fn declare(title: &str, services: &[&str]) -> Intent {
        Intent::DeclareIncident {
            title: title.into(),
            severity: Severity::Sev3,
            impact: String::new(),
            drill: false,
            services: services.iter().map(|s| s.to_string()).collect(),
            private: false,
        }
    }

    fn probe(name: &str, health: Health) -> Intent {
        Intent::RecordProbe { probe: name.into(), health, failed: vec![], auto_declare: None }
    }

    fn status(id: IncidentId, status: Status) -> Intent {
        Intent::SetStatus { incident: id, status, reason: None }
    }

    fn note(id: IncidentId, text: &str) -> Intent {
        Intent::AddNote { incident: id, text: text.into() }
    }

    /// INC-1 before, then INC-2 about checkout over ten minutes, INC-1 and the search probe
    /// busy meanwhile; INC-2 closes last.
    fn ten_minutes() -> Script {
        let (one, two) = (IncidentId(1), IncidentId(2));
        let mut s = Script::new();
        s.at(-300, probe("checkout", Health::Up))
            .at(-200, declare("search is slow", &["search"]))
            .at(0, declare("checkout fails", &["checkout"]))
            .at(30, probe("checkout", Health::Down))
            .at(45, note(one, "still slow"))
            .at(60, status(two, Status::Investigating))
            .at(90, probe("search", Health::Down))
            .at(200, note(two, "rolled back the deploy"))
            .at(240, status(two, Status::Mitigated))
            .at(250, probe("checkout", Health::Up))
            .at(300, note(one, "unrelated"))
            .at(500, status(two, Status::Postmortem))
            .at(600, status(two, Status::Closed));
        s
    }

    #[test]
    fn a_ten_minute_incident_at_100x_plays_in_six_seconds_and_ends_in_the_live_fold() {
        let s = ten_minutes();
        let replay = s.replay(IncidentId(2));
        assert_eq!(replay.seq(), 3, "it opens on the declaration");
        let mut player = Player::new(replay, 100.0, MAX_GAP, Duration::from_secs(1000));
        assert_eq!(player.schedule().total(), Duration::from_secs(6));
        // A virtual clock: 1000 s is when the player started.
        let now = |secs: f64| Duration::from_secs(1000) + Duration::from_secs_f64(secs);
        assert_eq!(player.next_due(now(0.0)), Some(Duration::from_millis(300)), "the probe at T+30 s");
        assert!(player.tick(now(2.1)));
        assert_eq!(player.replay().seq(), 8, "the note at T+200 s played at 2.0 s");
        player.tick(now(5.999));
        assert!(!player.at_end() && player.is_playing(), "the last event is due at 6 s, not before");
        player.tick(now(6.0));
        assert!(player.at_end() && !player.is_playing(), "it stops at the end");
        assert_eq!(player.replay().state(), &s.state, "the live fold");
        assert_eq!(player.replay().incident().map(|i| i.status), Some(Status::Closed));
        // Play again from the start.
        player.toggle(now(7.0));
        assert_eq!(player.replay().position(), 0);
        assert!(player.is_playing());
    }

    #[test]
    fn seek_is_the_fold_up_to_the_seq_and_steps_stop_only_at_what_concerns_the_incident() {
        let s = ten_minutes();
        let mut replay = s.replay(IncidentId(2));
        for seq in 3..=s.state.seq {
            replay.seek(seq);
            assert_eq!(replay.state(), &s.fold(seq), "seek {seq}");
        }
        // Back to front too (each from the position before).
        for seq in (3..=s.state.seq).rev() {
            replay.seek(seq);
            assert_eq!((replay.seq(), replay.state()), (seq, &s.fold(seq)), "seek back {seq}");
        }
        // Its own facts and its service's probe; not INC-1's notes nor the search probe.
        let mut stops = vec![replay.seq()];
        while replay.step_forward() {
            stops.push(replay.seq());
        }
        assert_eq!(stops, [3, 4, 6, 8, 9, 10, 12, 13]);
        assert_eq!(replay.state(), &s.state);
        let mut back = vec![replay.seq()];
        while replay.step_back() {
            back.push(replay.seq());
        }
        back.reverse();
        assert_eq!(back, stops);
        assert_eq!(replay.state(), &s.fold(3));
        let markers: Vec<u64> = replay.markers().iter().map(|(p, _)| replay.events()[*p].seq).collect();
        assert_eq!(markers, [6, 9, 12, 13]);
    }

    #[test]
    fn positions_far_apart_fold_alike_from_checkpoints_or_from_here() {
        let mut s = Script::new();
        s.at(0, declare("long", &[]));
        for i in 0..1500 {
            s.at(i + 1, note(IncidentId(1), &format!("note {i}")));
        }
        let mut replay = s.replay(IncidentId(1));
        assert!(replay.checkpoints.len() > 2, "{} checkpoints", replay.checkpoints.len());
        for pos in [1400, 3, 800, 801, 799, 1500, 0, 1024, 256, 255, 257] {
            replay.go(pos);
            assert_eq!(replay.state(), &s.fold(pos as u64 + 1), "position {pos}");
        }
    }

    #[test]
    fn a_long_quiet_stretch_plays_as_the_cap_and_is_marked() {
        let mut s = Script::new();
        let id = IncidentId(1);
        s.at(0, declare("overnight", &[])).at(20, note(id, "going home")).at(20 + 8 * 3600, note(id, "back"));
        let replay = s.replay(id);
        let at10 = replay.schedule(10.0, MAX_GAP);
        assert_eq!(at10.offset(1), Duration::from_secs(2));
        assert_eq!(at10.offset(2), Duration::from_secs(12), "eight hours cut to ten seconds");
        assert!(at10.shortened(2) && !at10.shortened(1));
        // A cap that no gap reaches plays the log as it was.
        let whole = replay.schedule(1.0, Duration::from_secs(9 * 3600));
        assert_eq!(whole.total(), Duration::from_secs(20 + 8 * 3600));
        assert_eq!(whole.position_at(Duration::from_secs(19)), 0);
        assert_eq!(whole.position_at(Duration::from_secs(20)), 1);
    }

    #[test]
    fn pause_seek_and_speed_keep_the_playhead_where_the_user_put_it() {
        let s = ten_minutes();
        let mut p = Player::new(s.replay(IncidentId(2)), 10.0, MAX_GAP, Duration::ZERO);
        let secs = Duration::from_secs;
        p.tick(secs(7));
        assert_eq!(p.replay().seq(), 6, "T+60 s at 10×");
        p.toggle(secs(7));
        assert!(!p.is_playing());
        assert!(!p.tick(secs(100)), "paused: nothing moves");
        assert_eq!(p.clock(secs(100)), secs(7));
        // Halfway between T+60 and T+90 at 10× (6 s and 9 s): 7 s is a third of the way.
        p.set_speed(100.0, secs(100));
        assert_eq!(p.clock(secs(100)), Duration::from_millis(700));
        p.faster(secs(100));
        assert_eq!(p.speed(), 200.0);
        p.slower(secs(100));
        p.slower(secs(100));
        assert_eq!(p.speed(), 50.0);
        // A minute of incident time on: from T+60 s to the last event at or before T+120 s.
        p.seek_by(chrono::Duration::minutes(1), secs(100));
        assert_eq!(p.replay().seq(), 7);
        p.seek_by(chrono::Duration::minutes(1), secs(100));
        assert_eq!(p.replay().seq(), 8, "nothing within the minute: the next event");
        p.seek_by(chrono::Duration::minutes(-1), secs(100));
        assert_eq!(p.replay().seq(), 7, "the first event within the minute before");
        p.step_forward(secs(100));
        assert_eq!(p.replay().seq(), 8);
        p.step_back(secs(100));
        assert_eq!(p.replay().seq(), 6, "T+90 s is the search probe: not INC-2's");
        p.end(secs(100));
        assert!(p.at_end() && !p.is_playing());
        p.home(secs(100));
        assert_eq!((p.replay().position(), p.clock(secs(200))), (0, Duration::ZERO));
        assert_eq!(p.next_due(secs(200)), None, "paused: nothing is due");
    }

    #[test]
    fn a_replay_refuses_events_that_do_not_follow_on() {
        let s = ten_minutes();
        let inc = &s.state.incidents[&IncidentId(2)];
        let mut holed = s.log.clone();
        holed.remove(5);
        let err = Replay::new(inc, s.fold(2), holed).unwrap_err();
        assert_eq!(err, ReplayError::Gap { after: 5, got: 7 });
        let short: Vec<Event> = s.log.iter().filter(|e| e.seq < 10).cloned().collect();
        let err = Replay::new(inc, s.fold(2), short).unwrap_err();
        assert_eq!(err.to_string(), "the events end at seq 9, before INC-2's last entry (13)");
    }

    #[test]
    fn clocks_and_speeds_read_as_the_bar_shows_them() {
        assert_eq!(clock_text(chrono::Duration::seconds(252)), "04:12");
        assert_eq!(clock_text(chrono::Duration::seconds(3852)), "1:04:12");
        assert_eq!(speed_text(10.0), "10×");
        assert_eq!(speed_text(0.5), "0.5×");
    }
}
