//! The year part: writes a realistic year of incidents through a real server (many writers,
//! probes and comms), then measures on that log what the targets name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::client::ClientError;
use crate::model::comms::Checklist;
use crate::model::{ClosureReason, Fact, Library, Milestone, Role, Status};
use crate::protocol::Ack;

/// The people of the year: every one a commander on the year server, so every name the
/// script assigns is a real user (a server that checks role holders against its users
/// accepts them).
const PEOPLE: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "laura",
    "mike", "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent",
];
/// Services, each a probe of the year server against the bench's own flapping target.
const SERVICES: &[&str] = &[
    "checkout",
    "payments",
    "search",
    "login",
    "catalog",
    "cart",
    "shipping",
    "inventory",
    "email",
    "images",
    "api-gateway",
    "recommendations",
];
/// Incidents left open at the end of a year of `incidents`: the live room (a tenth of a
/// small year).
pub(super) fn open_at_end(incidents: usize) -> usize {
    OPEN_AT_END.min(incidents / 10)
}

/// Concurrent writers while the year is generated.
const WRITERS: usize = 48;
/// Incidents left open at the end: the live room.
const OPEN_AT_END: usize = 300;
/// A year that takes longer than this to write is reported as a failure, not waited for.
const GENERATION_DEADLINE: Duration = Duration::from_secs(45 * 60);
/// Observer users that hold the fan-out streams (a user may hold `streams_per_user` of them).
const WATCHERS: usize = 100;
/// The fan-out runs' pace.
const FANOUT_RATE: u64 = 50;
const FANOUT_WINDOW: Duration = Duration::from_secs(10);
/// Runs of each rate or latency; the table shows their median.
const RUNS: usize = 3;
const LIST_RUNS: usize = 5;
/// Written into the year dir once a year is complete: a later run reuses that log.
const MARKER: &str = "year.json";

fn person_token(name: &str) -> String {
    format!("year-token-{name}-0123456789")
}

/// A small deterministic generator (splitmix64): the same index always plans the same incident.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// How an incident of the year ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum End {
    /// Still open at the end of the year, at this status.
    Open(Status),
    /// Mitigated, then closed as resolved (minor incidents skip the postmortem).
    Resolved,
    /// Through the postmortem to closed (every major incident ends so).
    Postmortem,
    /// Closed early from investigating: a duplicate, a false positive, cancelled.
    Early(ClosureReason),
}

/// One incident of the year, drawn from its index.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub index: usize,
    pub severity: Severity,
    /// A different severity it moves to while investigating, if it does.
    pub reseverity: Option<Severity>,
    pub drill: bool,
    pub private: bool,
    pub services: Vec<String>,
    pub notes: usize,
    /// Extra staff updates beyond each communicate step's first message.
    pub updates: usize,
    pub reopen: bool,
    pub handover: bool,
    pub end: End,
}

impl Plan {
    /// `open` marks the incidents that stay open at the end; `notes_mean` is the average
    /// number of notes (the rest of an incident's ~100 events is its script).
    pub(super) fn draw(index: usize, notes_mean: usize, open: bool) -> Plan {
        let mut d = Dice(index as u64 ^ 0x005E_ED0F_7EA2);
        let severity = match d.below(100) {
            0..=1 => Severity::Sev1,
            2..=7 => Severity::Sev2,
            8..=47 => Severity::Sev3,
            48..=92 => Severity::Sev4,
            _ => Severity::Sev5,
        };
        let reseverity = d.chance(10).then(|| match severity {
            Severity::Sev1 => Severity::Sev2,
            s => Severity::ALL[s.level() as usize - 2],
        });
        let services =
            (0..1 + d.below(3)).map(|k| SERVICES[(index + k * 5) % SERVICES.len()].to_string()).collect();
        let major = reseverity.unwrap_or(severity).is_major();
        let end = if open {
            [Status::Investigating, Status::Mitigating, Status::Mitigated][d.below(3)]
        } else {
            Status::Closed
        };
        let end = match end {
            Status::Closed if major => End::Postmortem,
            Status::Closed => match d.below(20) {
                0 => End::Early(ClosureReason::Duplicate),
                1 => End::Early(ClosureReason::FalsePositive),
                2 => End::Early(ClosureReason::Cancelled),
                3..=5 => End::Postmortem,
                _ => End::Resolved,
            },
            open => End::Open(open),
        };
        // Majors run longer and say more: twice the notes of a minor incident.
        let notes = notes_mean / 2 + d.below(notes_mean.max(1));
        let notes = if major { notes * 2 } else { notes * 9 / 10 };
        Plan {
            index,
            severity,
            reseverity,
            drill: index.is_multiple_of(3),
            private: d.chance(5),
            services,
            notes,
            updates: if major { 3 + d.below(4) } else { d.below(3) },
            reopen: d.chance(8),
            handover: major || d.chance(15),
            end,
        }
    }

    pub(super) fn declare(&self) -> Intent {
        const WHAT: &[&str] = &[
            "returns 502 for some customers",
            "latency over SLO",
            "error rate above 2%",
            "queue backing up",
            "timeouts from the database",
            "stale data shown",
        ];
        let service = self.services.first().map_or("shop", String::as_str);
        Intent::DeclareIncident {
            title: format!("{service}: {} (year #{})", WHAT[self.index % WHAT.len()], self.index),
            severity: self.severity,
            impact: format!(
                "customers of {service} see errors or slow pages; {} services involved",
                self.services.len()
            ),
            drill: self.drill,
            services: self.services.clone(),
            private: self.private,
        }
    }

    /// The playbook this incident switches to after its declaration attached `attached`:
    /// a private one follows the security playbook; one without a default gets the
    /// degraded-performance one, so that every incident has a playbook.
    pub(super) fn switch_to(&self, attached: Option<&Checklist>) -> Option<&'static str> {
        if self.private {
            Some("security-incident")
        } else if attached.is_none() {
            Some("degraded-performance")
        } else {
            None
        }
    }

    /// Everything after the declaration, for incident `id` declared by `actor`, with
    /// `attached` the checklist its declaration brought. `now` dates the milestones.
    pub(super) fn script(
        &self,
        id: IncidentId,
        actor: &str,
        attached: Option<&Checklist>,
        library: &Library,
        now: DateTime<Utc>,
    ) -> Vec<Intent> {
        let mut d = Dice(self.index as u64 ^ 0x00C0_FFEE);
        let mut out = Vec::new();
        let others: Vec<&str> = PEOPLE.iter().copied().filter(|p| *p != actor).collect();
        let pick = |d: &mut Dice| others[d.below(others.len())].to_string();
        let switched = self.switch_to(attached).and_then(|p| library.checklist(p));
        if let Some(list) = &switched {
            out.push(Intent::AttachPlaybook { incident: id, playbook: list.playbook.clone() });
        }
        let checklist = switched.as_ref().or(attached);
        if self.private {
            // Members first: only the commander (the declarer, until the handover) adds them.
            let first = pick(&mut d);
            let mut second = pick(&mut d);
            while second == first {
                second = pick(&mut d);
            }
            for person in [first, second] {
                out.push(Intent::AddMember { incident: id, person });
            }
        }
        let mut notes =
            (0..self.notes).map(|n| Intent::AddNote { incident: id, text: note_text(self.index, n) });
        let mut some_notes = |out: &mut Vec<Intent>, share: usize| out.extend(notes.by_ref().take(share));
        let share = self.notes / 5 + 1;
        let status = |s: Status, reason: Option<&str>| Intent::SetStatus {
            incident: id,
            status: s,
            reason: reason.map(str::to_string),
        };
        out.push(status(Status::Investigating, None));
        let started = now - chrono::Duration::minutes(10 + d.below(110) as i64);
        out.push(Intent::SetMilestone { incident: id, milestone: Milestone::Started, time: started });
        out.push(Intent::SetMilestone {
            incident: id,
            milestone: Milestone::Detected,
            time: started + chrono::Duration::minutes(1 + d.below(9) as i64),
        });
        let mut roles = vec![Role::Deputy, Role::Scribe, Role::SubjectMatterExpert];
        if self.severity.is_major() {
            roles.extend([Role::CustomerLiaison, Role::InternalLiaison]);
        }
        for role in roles {
            out.push(Intent::AssignRole { incident: id, role, person: pick(&mut d) });
        }
        some_notes(&mut out, share);
        // The playbook: a communicate step is done by sending its message (the delivery ticks
        // it); any other step is ticked by hand. Closing steps wait for the end.
        let steps: Vec<_> =
            checklist.map(|c| c.steps.iter().map(|s| s.step.clone()).collect()).unwrap_or_default();
        let closing = |id: &str| {
            id.starts_with("all-clear") || id == "postmortem" || id == "retro" || id == "follow-up"
        };
        for s in steps.iter().filter(|s| s.owner.is_some()).take(3) {
            out.push(Intent::AssignStep { incident: id, step: s.id.clone(), person: pick(&mut d) });
        }
        let do_step = |out: &mut Vec<Intent>, s: &crate::model::playbook::Step| match &s.channel {
            Some(channel) => out.push(Intent::SendMessage {
                incident: id,
                channel: channel.clone(),
                text: format!("{}: {} (incident {id}, year #{}).", s.title, "what we know now", self.index),
                step: Some(s.id.clone()),
                status: None,
            }),
            None => out.push(Intent::TickStep { incident: id, step: s.id.clone() }),
        };
        for s in steps.iter().filter(|s| !closing(&s.id)) {
            do_step(&mut out, s);
        }
        if let Some(to) = self.reseverity {
            out.push(Intent::SetSeverity { incident: id, severity: to });
        }
        some_notes(&mut out, share);
        let staff = steps.iter().find_map(|s| s.channel.clone()).unwrap_or_else(|| "staff".into());
        for u in 0..self.updates {
            out.push(Intent::SendMessage {
                incident: id,
                channel: staff.clone(),
                text: format!("Update {} on {id}: still working on it; next update in 30 minutes.", u + 1),
                step: None,
                status: None,
            });
        }
        if let End::Early(reason) = self.end {
            some_notes(&mut out, self.notes);
            let why = match reason {
                ClosureReason::Duplicate => format!("duplicate: of INC-{}", id.0.saturating_sub(1).max(1)),
                other => format!("{other}: found while investigating"),
            };
            out.push(status(Status::Closed, Some(&why)));
            return out;
        }
        if self.end == End::Open(Status::Investigating) {
            some_notes(&mut out, self.notes);
            return out;
        }
        out.push(status(Status::Mitigating, None));
        some_notes(&mut out, share);
        if self.end == End::Open(Status::Mitigating) {
            some_notes(&mut out, self.notes);
            return out;
        }
        out.push(status(Status::Mitigated, None));
        if self.reopen {
            out.push(status(Status::Investigating, Some("errors are back after the rollback")));
            some_notes(&mut out, share);
            out.push(status(Status::Mitigated, None));
        }
        if self.handover {
            out.push(Intent::AssignRole {
                incident: id,
                role: Role::IncidentCommander,
                person: pick(&mut d),
            });
        }
        some_notes(&mut out, self.notes);
        if self.end == End::Open(Status::Mitigated) {
            return out;
        }
        for s in steps.iter().filter(|s| closing(&s.id) && s.id != "postmortem" && s.id != "retro") {
            do_step(&mut out, s);
        }
        if self.end == End::Postmortem {
            out.push(status(Status::Postmortem, None));
            for s in steps.iter().filter(|s| s.id == "postmortem" || s.id == "retro") {
                do_step(&mut out, s);
            }
            // A year of postmortems: what stats file by failure class and `actions` lists.
            let classes = &library.postmortem.failure_classes;
            let class = (!classes.is_empty()).then(|| classes[d.below(classes.len())].clone());
            out.push(Intent::WritePostmortem {
                incident: id,
                document: crate::model::postmortem::Document {
                    summary: format!("{id} (year #{}): what happened, in a few sentences.", self.index),
                    failure_class: class,
                    factors: "A change nobody flagged as risky; an alert that fired late.".into(),
                    well: vec!["paging reached the on-call in a minute".into()],
                    badly: vec!["the rollback took longer than the fix".into()],
                    lucky: Vec::new(),
                },
                base: Some(0),
            });
            out.push(Intent::AddActionItem {
                incident: id,
                title: format!("Alert earlier on what broke in {id}"),
                // The declarer: someone who sees the incident even when it is private.
                owner: actor.to_string(),
                due: Some(now.date_naive() + chrono::Days::new(14)),
                link: None,
            });
            out.push(status(Status::Closed, None));
        } else {
            out.push(status(Status::Closed, Some("resolved: the fix held for an hour")));
        }
        out
    }
}

fn note_text(index: usize, n: usize) -> String {
    const NOTES: &[&str] = &[
        "error rate down to 0.4% after the restart, watching",
        "rolled back the 14:02 deploy; canary is green",
        "the database's replication lag is 40 s and growing",
        "customer support reports three tickets about failed payments",
        "found it: the connection pool is capped at 20 since yesterday's config change",
        "scaling the workers from 8 to 16",
        "p99 latency is back under 300 ms",
        "paging the payments on-call for a second pair of eyes",
        "the CDN shows a spike of 5xx from one region only",
        "disk on db-2 at 91%, cleaning old WAL segments",
    ];
    format!("{} (#{index}.{n})", NOTES[(index + n) % NOTES.len()])
}

/// The channels of the year server: what the shipped playbooks name.
fn channels_toml() -> &'static str {
    "[[channels]]\nname = \"staff\"\nkind = \"dry-run\"\n\
     [[channels]]\nname = \"public\"\nkind = \"statuspage\"\n\
     [[channels]]\nname = \"customers\"\nkind = \"dry-run\"\naudience = \"customers\"\n\
     [[channels]]\nname = \"socials\"\nkind = \"dry-run\"\naudience = \"socials\"\n"
}

/// The library the year server loads (shipped playbooks and the channels above), for the
/// generator's calibration and its test.
pub(super) fn library() -> color_eyre::Result<Library> {
    #[derive(Deserialize)]
    struct Channels {
        channels: Vec<crate::config::ChannelConfig>,
    }
    let channels: Channels =
        toml::from_str(channels_toml()).map_err(|e| eyre!("the year's channels: {e}"))?;
    // The server's users: the people roles and steps go to are checked against them.
    let users: Vec<String> = PEOPLE.iter().map(|p| p.to_string()).chain(["bench".to_string()]).collect();
    let loaded = crate::server::library::load(&channels.channels, &[], "http://127.0.0.1", &[], &users);
    Ok(loaded.library)
}

/// The year server's config; its probes check every `probe_ms` (each check is also a sample
/// streamed to every subscriber, so the measurements run with a realistic 30 s).
fn server_toml(target: &str, probe_ms: u64) -> String {
    let mut c = format!("[[users]]\nname = \"bench\"\nrole = \"admin\"\ntoken = \"{TOKEN}\"\n");
    for p in PEOPLE {
        c.push_str(&format!(
            "[[users]]\nname = \"{p}\"\nrole = \"commander\"\ntoken = \"{}\"\n",
            person_token(p)
        ));
    }
    for i in 0..WATCHERS {
        c.push_str(&format!(
            "[[users]]\nname = \"watcher-{i}\"\nrole = \"observer\"\ntoken = \"{}\"\n",
            connections::observer_token(i)
        ));
    }
    c.push_str(channels_toml());
    for s in SERVICES {
        c.push_str(&format!(
            "[[probes]]\nname = \"{s}\"\nurl = \"{target}/{s}\"\ninterval_ms = {probe_ms}\ntimeout_ms = 500\n\
             conditions = [\"[STATUS] == 200\"]\nfailure_threshold = 2\nsuccess_threshold = 1\n"
        ));
    }
    // The visibility part opens 100 streams as one user; the fan-out 100 per watcher.
    c.push_str("[limits]\nstreams_per_user = 1000\n");
    c
}

/// The services' health endpoint: while `flapping`, each service turns red and green on its
/// own period (so the server's real probes record changes); afterwards all stay green.
async fn flapping_target(flapping: Arc<AtomicBool>) -> color_eyre::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let flapping = flapping.clone();
        async move {
            let i = SERVICES.iter().position(|s| uri.path() == format!("/{s}")).unwrap_or(0) as u64;
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            if flapping.load(Ordering::Relaxed) && (secs / (7 + i * 3)) % 4 == 3 {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                axum::http::StatusCode::OK
            }
        }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("year: the probe target stopped: {e}");
        }
    });
    Ok(url)
}

/// What a finished year was asked for and what it holds.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    incidents: usize,
    events: u64,
    /// The log's head when the year was complete.
    seq: u64,
    refused: u64,
    seconds: f64,
}

/// Counts of what the generation sent, shared by its writers.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    head: AtomicU64,
    incidents: AtomicUsize,
    /// The first refusals, to say what was refused.
    samples: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn note(&self, what: String) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() < 8 {
            s.push(what);
        }
    }
}

/// Sends one command, retrying an unreachable server a few times with the same id (the id
/// makes a retry safe); a refusal or a lasting failure is counted, not fatal.
async fn send(client: &Client, cmd: &Command, tally: &Tally) -> Option<Ack> {
    tally.sent.fetch_add(1, Ordering::Relaxed);
    for attempt in 0..4u64 {
        match client.send(cmd).await {
            Ok(ack) => {
                tally.head.fetch_max(ack.seq, Ordering::Relaxed);
                return Some(ack);
            }
            Err(ClientError::Rejected { status, error, detail }) => {
                tally.refused.fetch_add(1, Ordering::Relaxed);
                tally.note(format!("{} refused ({status} {error}): {detail}", cmd.intent.kind()));
                return None;
            }
            Err(e) if attempt < 3 => {
                tally.note(format!("{} retried: {e}", cmd.intent.kind()));
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
            Err(e) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                tally.note(format!("{} failed: {e}", cmd.intent.kind()));
                return None;
            }
        }
    }
    None
}

/// Events one incident's whole script writes, folded in memory from an empty state with the
/// server's rules; the notifier's deliveries (and the ticks they bring) are simulated.
/// Refused intents are an error naming the intent.
pub(super) fn fold_incident(
    plan: &Plan,
    library: &Library,
    state: &mut crate::model::State,
) -> Result<u64, String> {
    let actor = PEOPLE[plan.index % PEOPLE.len()];
    let before = state.seq;
    let now = state.latest_time().max(DateTime::UNIX_EPOCH + chrono::Duration::days(365 * 50));
    let apply = |state: &mut crate::model::State, intent: &Intent| -> Result<Vec<Fact>, String> {
        let command_id = uuid::Uuid::from_u128(state.seq as u128 + 1);
        let cx = crate::model::Context { library, now, command_id, role: UserRole::Commander, actor };
        let facts = state.decide_with(intent, &cx).map_err(|e| format!("{}: {e}", intent.kind()))?;
        let events =
            crate::model::stamp(state.seq + 1, now, actor, UserRole::Commander, command_id, facts.clone());
        for e in &events {
            state.apply(e);
        }
        Ok(facts)
    };
    let facts = apply(state, &plan.declare())?;
    let id = facts.iter().find_map(Fact::incident).ok_or("the declaration named no incident")?;
    let attached = facts.iter().find_map(|f| match f {
        Fact::PlaybookAttached { checklist, .. } => Some(checklist.clone()),
        _ => None,
    });
    for intent in plan.script(id, actor, attached.as_ref(), library, now) {
        let facts = apply(state, &intent)?;
        for f in facts {
            if let Fact::MessageQueued { message, .. } = f {
                let delivery = Intent::RecordDelivery {
                    incident: id,
                    message,
                    ok: true,
                    detail: "dry run".into(),
                    last: false,
                };
                apply(state, &delivery)?;
            }
        }
    }
    Ok(state.seq - before)
}

/// The average number of notes per incident that brings the year to `events`: the scripts
/// without notes are folded for a sample of incidents, the rest is notes.
fn calibrate(incidents: usize, events: u64, library: &Library) -> color_eyre::Result<usize> {
    let sample = incidents.min(400);
    let mut base = 0u64;
    let mut notes = 0usize;
    for i in 0..sample {
        let mut with = Plan::draw(i, 100, i + open_at_end(incidents) >= incidents);
        notes += with.notes;
        with.notes = 0;
        base += fold_incident(&with, library, &mut crate::model::State::default())
            .map_err(|e| eyre!("the year's script for incident {i} is refused: {e}"))?;
    }
    let per_incident = events as f64 / incidents.max(1) as f64;
    let base = base as f64 / sample.max(1) as f64;
    // Notes scale linearly with the mean: `notes` is what a mean of 100 draws.
    let per_100 = notes as f64 / sample.max(1) as f64;
    Ok((((per_incident - base).max(0.0) / per_100) * 100.0).round() as usize)
}

/// Closes INC-1, the bench's drill, where the load parts write (see `year`).
fn close_the_drill() -> Command {
    Command::new(Intent::SetStatus {
        incident: IncidentId(1),
        status: crate::model::Status::Closed,
        reason: Some("cancelled".into()),
    })
}

/// The log the year's ack p99 is compared with: this many events, written as the year is.
const SMALL_LOG: u64 = 10_000;

/// The throughput run on a log of [`SMALL_LOG`] events (100 incidents written as the year's
/// are, INC-1 closed as on the year), a fresh one per run, through a `warroom serve` child
/// with the year's config: the same setup as the year's own run, at 1 % of its size.
async fn small_log(args: &BenchArgs, config: &str) -> color_eyre::Result<Vec<super::server::Load>> {
    let library = Arc::new(library()?);
    let mut loads = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir()?;
        let (mut server, url, _) = start_server(dir.path(), config).await?;
        let written = generate(&url, 100, SMALL_LOG, library.clone()).await?;
        let admin = Client::new(&url, TOKEN)?;
        admin.send(&close_the_drill()).await.map_err(|e| eyre!("closing INC-1 on the small log: {e}"))?;
        let load = server::throughput(std::slice::from_ref(&url), args).await?;
        println!(
            "small log ({} events): {:.0} commands/s, ack p50 {} p99 {}",
            written.seq,
            load.per_s,
            ms(load.p50),
            ms(load.p99)
        );
        loads.push(load);
        server.kill().await?;
    }
    Ok(loads)
}

/// Writes the year through the server at `url`: declares the bench's own incident (INC-1,
/// where the load parts write), then `incidents` incidents from many writers at once.
async fn generate(
    url: &str,
    incidents: usize,
    events: u64,
    library: Arc<Library>,
) -> color_eyre::Result<Marker> {
    let notes_mean = calibrate(incidents, events, &library)?;
    println!(
        "year: writing {incidents} incidents (~{events} events, {notes_mean} notes on average each) from {WRITERS} writers"
    );
    let admin = Client::new(url, TOKEN)?;
    declare_bench(&admin).await?;
    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + GENERATION_DEADLINE;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let actor = PEOPLE[w % PEOPLE.len()];
        let client = Client::new(url, &person_token(actor))?;
        let (tally, next, library) = (tally.clone(), next.clone(), library.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= incidents || Instant::now() > deadline {
                    return;
                }
                let plan = Plan::draw(i, notes_mean, i + open_at_end(incidents) >= incidents);
                let Some(ack) = send(&client, &Command::new(plan.declare()), &tally).await else { continue };
                let Some(id) = ack.events.iter().find_map(|e| e.fact.incident()) else { continue };
                let attached = ack.events.iter().find_map(|e| match &e.fact {
                    Fact::PlaybookAttached { checklist, .. } => Some(checklist.clone()),
                    _ => None,
                });
                tally.incidents.fetch_add(1, Ordering::Relaxed);
                for intent in plan.script(id, actor, attached.as_ref(), &library, Utc::now()) {
                    send(&client, &Command::new(intent), &tally).await;
                }
            }
        }));
    }
    // A progress line every tenth of the events.
    let progress = {
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut shown = 0u64;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let head = tally.head.load(Ordering::Relaxed);
                if head * 10 / events.max(1) > shown {
                    shown = head * 10 / events.max(1);
                    let secs = started.elapsed().as_secs_f64();
                    println!(
                        "year: {head} events ({}%), {} incidents, {:.0} commands/s so far, {} refused, {:.0} s",
                        head * 100 / events.max(1),
                        tally.incidents.load(Ordering::Relaxed),
                        tally.sent.load(Ordering::Relaxed) as f64 / secs,
                        tally.refused.load(Ordering::Relaxed),
                        secs
                    );
                }
            }
        })
    };
    for w in writers {
        w.await?;
    }
    progress.abort();
    let seconds = started.elapsed().as_secs_f64();
    let (sent, refused, failed) = (
        tally.sent.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
    );
    let samples = tally.samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if Instant::now() > deadline {
        bail!(
            "the year was not written within {} s; first problems: {samples:#?}",
            GENERATION_DEADLINE.as_secs()
        );
    }
    println!(
        "year: written in {seconds:.0} s: {sent} commands ({:.0}/s), {refused} refused, {failed} failed; head {}",
        sent as f64 / seconds,
        tally.head.load(Ordering::Relaxed)
    );
    for s in &samples {
        println!("year:   e.g. {s}");
    }
    if (refused + failed) * 100 > sent {
        bail!("more than 1% of the year's commands were refused or failed ({refused} + {failed} of {sent})");
    }
    // The head with the deliveries the notifier was still recording: one more command's ack.
    let head = admin.send(&note(0)).await?.seq;
    Ok(Marker { incidents, events, seq: head, refused: refused + failed, seconds })
}

/// A `warroom serve` child on the year's dir; waits until /healthz answers 200. The time
/// from spawn to healthy.
async fn start_server(
    dir: &Path,
    config: &str,
) -> color_eyre::Result<(tokio::process::Child, String, Duration)> {
    let t = Instant::now();
    let (child, url) = serve_child(dir, config).await?;
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse()?;
    let until = Instant::now() + Duration::from_secs(120);
    while connections::healthz(addr).await.is_err() {
        if Instant::now() > until {
            bail!("the server on {} never answered /healthz", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((child, url, t.elapsed()))
}

/// Raw fsync rate of the disk under `dir`: 4 KiB appends, each made durable with fdatasync,
/// for about two seconds.
pub(super) fn fsyncs_per_s(dir: &Path) -> color_eyre::Result<f64> {
    use std::io::Write;
    let path = dir.join("fsync-probe.tmp");
    let mut f = std::fs::File::create(&path).map_err(|e| eyre!("creating {}: {e}", path.display()))?;
    let block = [0x5au8; 4096];
    let (t, mut n) = (Instant::now(), 0u64);
    while t.elapsed() < Duration::from_secs(2) {
        f.write_all(&block)?;
        f.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path).map_err(|e| eyre!("removing {}: {e}", path.display()))?;
    Ok(rate)
}

/// The child that watches the fan-out: holds `count` streams (as the watcher users) and
/// records, for every event after `after`, how many streams saw it and when the last one did
/// (wall-clock nanoseconds, comparable across processes on one machine). Prints `streams N`
/// once all said hello; on each `report` line from stdin prints `seen SEQ COUNT NANOS` lines
/// and `end`; exits when stdin closes.
pub(super) async fn hold_watch(addr: &str, count: usize, after: u64) -> color_eyre::Result<()> {
    use futures_util::stream::{self, TryStreamExt};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    crate::server::conn::raise_fd_limit();
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| eyre!("--hold-watch {addr}: {e}"))?;
    const SLOTS: usize = 1 << 16;
    let seen: Arc<Vec<(AtomicU64, AtomicU64)>> =
        Arc::new((0..SLOTS).map(|_| (AtomicU64::new(0), AtomicU64::new(0))).collect());
    stream::iter((0..count).map(|s| {
        Ok::<_, color_eyre::Report>(watch_stream(
            addr,
            connections::observer_token(s % WATCHERS),
            after,
            seen.clone(),
        ))
    }))
    .try_buffer_unordered(200)
    .try_collect::<Vec<()>>()
    .await?;
    let mut out = tokio::io::stdout();
    out.write_all(format!("streams {count}\n").as_bytes()).await?;
    out.flush().await?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() != "report" {
            continue;
        }
        let mut report = String::new();
        for (i, (n, at)) in seen.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                report.push_str(&format!(
                    "seen {} {n} {}\n",
                    after + 1 + i as u64,
                    at.load(Ordering::Relaxed)
                ));
            }
        }
        report.push_str("end\n");
        out.write_all(report.as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

fn wall_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// One watched stream over raw TCP: waits for its hello, then notes every `id:` line it reads.
/// The server writes whole frames per chunk, so a chunk header never splits an `id:` line;
/// a line cut between two reads is carried over.
async fn watch_stream(
    addr: std::net::SocketAddr,
    token: String,
    after: u64,
    seen: Arc<Vec<(AtomicU64, AtomicU64)>>,
) -> color_eyre::Result<()> {
    use tokio::io::AsyncReadExt;
    // From `after`, as a console that has its snapshot: without it the server would replay the
    // whole year to every stream before anything live. What came with the hello is not news.
    let (mut sock, _) = connections::open_stream(addr, token, Some(after)).await?;
    let mut buf = vec![0u8; 16 * 1024];
    tokio::spawn(async move {
        let mut carry: Vec<u8> = Vec::new();
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                return;
            }
            let now = wall_nanos();
            carry.extend_from_slice(&buf[..n]);
            let cut = carry.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            for line in carry[..cut].split(|b| *b == b'\n') {
                let Some(seq) = line.strip_prefix(b"id: ").and_then(|s| std::str::from_utf8(s).ok()) else {
                    continue;
                };
                let Ok(seq) = seq.trim().parse::<u64>() else { continue };
                let slot = seq.checked_sub(after + 1).and_then(|i| seen.get(i as usize));
                if let Some((count, at)) = slot {
                    count.fetch_add(1, Ordering::Relaxed);
                    at.fetch_max(now, Ordering::Relaxed);
                }
            }
            carry.drain(..cut);
        }
    });
    Ok(())
}

/// One fan-out window's figures.
struct FanRun {
    seen_p50: Duration,
    seen_p99: Duration,
    ack_p50: Duration,
    rss_mb: f64,
}

/// `subscribers` streams held by a child, then `RUNS` windows of notes at `FANOUT_RATE`/s:
/// per window, when each note was seen on every stream, each ack, and the server's peak RSS.
async fn fanout(url: &str, server_pid: u32, subscribers: usize) -> color_eyre::Result<Vec<FanRun>> {
    use tokio::io::AsyncWriteExt;
    let client = Client::new(url, TOKEN)?;
    let after = client.send(&note(0)).await?.seq;
    let addr = url.trim_start_matches("http://").to_string();
    let args = [
        "--hold-watch".into(),
        addr,
        "--streams".into(),
        subscribers.to_string(),
        "--watch-after".into(),
        after.to_string(),
    ];
    let (mut child, mut lines) = connections::holder(&args, false)?;
    let mut stdin = child.stdin.take().ok_or_else(|| eyre!("the fan-out watcher has no stdin"))?;
    let ready = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
        .await
        .map_err(|_| eyre!("the {subscribers} streams did not open in 300 s"))??;
    if ready.as_deref() != Some(format!("streams {subscribers}").as_str()) {
        bail!("the fan-out watcher failed: {ready:?}");
    }
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let total = (FANOUT_RATE * FANOUT_WINDOW.as_secs()) as usize;
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / FANOUT_RATE as f64));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sends = Vec::with_capacity(total);
        let mut rss: f64 = 0.0;
        for i in 0..total {
            ticker.tick().await;
            if i % 10 == 0 {
                rss = rss.max(rss_mb(server_pid)?);
            }
            let c = client.clone();
            sends.push(tokio::spawn(async move {
                let (sent_at, t) = (wall_nanos(), Instant::now());
                let ack = c.send(&note(i)).await?;
                Ok::<_, ClientError>((ack.seq, sent_at, t.elapsed()))
            }));
        }
        let mut sent = Vec::new();
        for s in sends {
            sent.push(s.await??);
        }
        rss = rss.max(rss_mb(server_pid)?);
        // Ask the watcher until every note reached every stream (or a deadline says some never did).
        let until = Instant::now() + Duration::from_secs(60);
        let seen = loop {
            stdin.write_all(b"report\n").await?;
            stdin.flush().await?;
            let mut seen: HashMap<u64, (u64, u64)> = HashMap::new();
            loop {
                let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                    .await
                    .map_err(|_| eyre!("the fan-out watcher stopped reporting"))??
                    .ok_or_else(|| eyre!("the fan-out watcher exited"))?;
                if line == "end" {
                    break;
                }
                let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
                if let [seq, n, at] = f[..] {
                    seen.insert(seq, (n, at));
                }
            }
            let missing = sent
                .iter()
                .filter(|(seq, ..)| seen.get(seq).is_none_or(|(n, _)| *n < subscribers as u64))
                .count();
            if missing == 0 {
                break seen;
            }
            if Instant::now() > until {
                bail!("{missing} of {} notes never reached all {subscribers} streams", sent.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut vis: Vec<Duration> = sent
            .iter()
            .map(|(seq, at, _)| {
                Duration::from_nanos(seen.get(seq).map_or(0, |(_, last)| last.saturating_sub(*at)))
            })
            .collect();
        let mut acks: Vec<Duration> = sent.iter().map(|(_, _, a)| *a).collect();
        vis.sort();
        acks.sort();
        let run = FanRun {
            seen_p50: percentile(&vis, 50.0),
            seen_p99: percentile(&vis, 99.0),
            ack_p50: percentile(&acks, 50.0),
            rss_mb: rss,
        };
        println!(
            "year fan-out: {subscribers} subscribers, {} notes at {FANOUT_RATE}/s: seen-on-all p50 {} p99 {}; ack p50 {}; server RSS {:.0} MB",
            sent.len(),
            ms(run.seen_p50),
            ms(run.seen_p99),
            ms(run.ack_p50),
            run.rss_mb
        );
        runs.push(run);
    }
    drop(stdin);
    child.kill().await?;
    Ok(runs)
}

/// `warroom incident list` against the server, the real binary in its own process: wall time
/// from spawn to exit, and the lines it printed.
async fn incident_list(url: &str, home: &Path) -> color_eyre::Result<(Duration, usize)> {
    let t = Instant::now();
    let out = tokio::process::Command::new(std::env::current_exe()?)
        .args(["incident", "list"])
        .env("WARROOM_SERVER", url)
        .env("WARROOM_TOKEN", TOKEN)
        .env("WARROOM_CONFIG_DIR", home.join("config"))
        .env("WARROOM_DATA_DIR", home.join("data"))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .await?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!("warroom incident list failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok((took, out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count()))
}

/// A real console in tmux against the year: time from its start until it shows the synced
/// room ("online" and incidents on screen), then its RSS two seconds later.
async fn console_start(url: &str, home: &Path, run: usize) -> color_eyre::Result<(Duration, f64)> {
    let exe = std::env::current_exe()?;
    let socket = format!("warroom-year-{}-{run}", std::process::id());
    let cmd = format!(
        "env WARROOM_CONFIG_DIR={} WARROOM_DATA_DIR={} WARROOM_SERVER={url} WARROOM_TOKEN={TOKEN} {} tui",
        home.join("config").display(),
        home.join("data").display(),
        exe.display()
    );
    let started = Instant::now();
    console::tmux(&["-L", &socket, "new-session", "-d", "-x", "160", "-y", "48", &cmd])?;
    let result = async {
        let pid: u32 = console::tmux(&["-L", &socket, "display-message", "-p", "#{pane_pid}"])?
            .trim()
            .parse()
            .map_err(|e| eyre!("the console's pid: {e}"))?;
        loop {
            let screen = console::tmux(&["-L", &socket, "capture-pane", "-p"])?;
            if screen.contains("online") && screen.contains("INC-") {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the console never showed the synced room; the screen was:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let paint = started.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok((paint, rss_mb(pid)?))
    }
    .await;
    console::tmux(&["-L", &socket, "kill-server"])?;
    result
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn median_d(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn runs_ms(v: &[Duration]) -> String {
    v.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0)).collect::<Vec<_>>().join(" / ")
}

fn runs_f(v: &[f64], decimals: usize) -> String {
    v.iter().map(|x| format!("{x:.decimals$}")).collect::<Vec<_>>().join(" / ")
}

/// The table: one row per figure with its runs, median and the target.
#[derive(Default)]
struct Table(Vec<[String; 4]>);

impl Table {
    fn row(&mut self, what: impl Into<String>, runs: String, median: String, target: &str) {
        self.0.push([what.into(), runs, median, target.to_string()]);
    }

    fn print(&self) {
        let head = ["figure".to_string(), "runs".into(), "median".into(), "target".into()];
        let widths: Vec<usize> = (0..4)
            .map(|c| self.0.iter().chain([&head]).map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for r in [&head].into_iter().chain(&self.0) {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            println!("| {} |", cells.join(" | "));
        }
    }
}

/// `warroom bench --only year`: the year (generated, or reused from `--year-dir`), then the
/// figures on it, as a table with the command that reproduces it.
pub(super) async fn year(args: &BenchArgs) -> color_eyre::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir: PathBuf = args.year_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| eyre!("creating {}: {e}", dir.display()))?;
    let marker_path = dir.join(MARKER);
    let reuse: Option<Marker> = match std::fs::read_to_string(&marker_path) {
        Ok(text) => {
            let m: Marker =
                serde_json::from_str(&text).map_err(|e| eyre!("{}: {e}", marker_path.display()))?;
            if m.incidents != args.incidents || m.events != args.events {
                bail!(
                    "{} holds a year of {} incidents / {} events, not the {} / {} asked: choose another --year-dir",
                    dir.display(),
                    m.incidents,
                    m.events,
                    args.incidents,
                    args.events
                );
            }
            Some(m)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("data").exists() {
                bail!(
                    "{} holds a log but no finished year ({MARKER}): an interrupted run? remove {} or choose another --year-dir",
                    dir.display(),
                    dir.join("data").display()
                );
            }
            None
        }
        Err(e) => bail!("reading {}: {e}", marker_path.display()),
    };
    let flapping = Arc::new(AtomicBool::new(reuse.is_none()));
    let target = flapping_target(flapping.clone()).await?;
    // While the year is written the probes check every second, so that flapping services
    // put probe changes in the log; afterwards every 30 s, as a real server would.
    let config = server_toml(&target, 30_000);
    let first = if reuse.is_some() { config.clone() } else { server_toml(&target, 1_000) };
    let (mut server, mut url, _) = start_server(&dir, &first).await?;
    let reused = reuse.is_some();
    let marker = match reuse {
        Some(m) => {
            println!(
                "year: reusing the year in {} ({} incidents, head {} when written; generated in {:.0} s)",
                dir.display(),
                m.incidents,
                m.seq,
                m.seconds
            );
            m
        }
        None => {
            let library = Arc::new(library()?);
            let m = generate(&url, args.incidents, args.events, library).await?;
            std::fs::write(&marker_path, serde_json::to_string_pretty(&m)?)
                .map_err(|e| eyre!("writing {}: {e}", marker_path.display()))?;
            m
        }
    };
    // The probes stop flapping so that they add nothing to what is measured.
    flapping.store(false, Ordering::Relaxed);
    // The load parts write their notes to INC-1, the bench's own drill. Left open, every run
    // would grow it by ~80,000 entries that every client holds, an incident no real room has;
    // closed, the notes cost the server the same and the year stays a year.
    let admin = Client::new(&url, TOKEN)?;
    match admin.send(&close_the_drill()).await {
        Ok(_) => println!("year: closed INC-1, the bench's drill, where the load parts write"),
        Err(e) => println!("year: INC-1 stays as it is ({e})"),
    }
    // A server that has been running has a recent snapshot; one that just folded the whole
    // log writes one at once. Restarts are measured from there, as an operator meets them.
    let snapshot = dir.join("data").join("events.sqlite3.snapshot");
    let head = admin.events(0, 1).await.map(|p| p.head).unwrap_or(0);
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(60) {
        let seq = std::fs::read_to_string(&snapshot).ok().and_then(|t| {
            let line = t.lines().next()?.to_string();
            serde_json::from_str::<serde_json::Value>(&line).ok()?["seq"].as_u64()
        });
        let bytes = std::fs::metadata(&snapshot).map_or(0, |m| m.len());
        if seq.is_some_and(|s| s + crate::server::store::snapshot_every(bytes) > head) {
            println!(
                "year: snapshot at seq {} (head {head}) after {}",
                seq.unwrap_or(0),
                ms(waited.elapsed())
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut table = Table::default();

    // Restart to healthy: kill the server (as a crash would) and start it on the same dir.
    let mut restarts = Vec::new();
    for _ in 0..RUNS {
        server.kill().await?;
        let (s, u, took) = start_server(&dir, &config).await?;
        (server, url) = (s, u);
        println!("year restart: healthy {} after spawn", ms(took));
        restarts.push(took);
    }
    let pid = server.id().ok_or_else(|| eyre!("the year server has no pid"))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_start = rss_mb(pid)?;
    table.row(
        "server restart to healthy (kill -9, start, /healthz 200)",
        runs_ms(&restarts) + " ms",
        ms(median_d(restarts.clone())),
        "≤ 1 s",
    );
    table.row("server RSS 1 s after start", String::new(), format!("{rss_start:.0} MB"), "");

    let state = {
        let t = Instant::now();
        let body = reqwest::Client::new()
            .get(format!("{url}/api/v1/state"))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        (body.len(), t.elapsed())
    };
    let head = Client::new(&url, TOKEN)?.send(&note(0)).await?.seq;
    println!(
        "year: head {head}; GET /api/v1/state is {:.1} MB ({} to fetch)",
        state.0 as f64 / 1e6,
        ms(state.1)
    );

    let fsync = fsyncs_per_s(&dir)?;
    println!(
        "year: the disk under {} does {fsync:.0} fsyncs/s (4 KiB append + fdatasync, 2 s)",
        dir.display()
    );

    let mut rates = Vec::new();
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let load = server::throughput(std::slice::from_ref(&url), args).await?;
        rates.push(load.per_s);
        p50s.push(load.p50);
        p99s.push(load.p99);
    }
    let rate = median_f(rates.clone());
    table.row(
        format!("durable commands/s ({} writers × {})", args.writers, args.per_writer),
        runs_f(&rates, 0),
        format!("{rate:.0}"),
        "≥ 15,000",
    );
    table.row("ack p50", runs_ms(&p50s) + " ms", ms(median_d(p50s)), "");
    let p99 = median_d(p99s.clone());
    table.row("ack p99", runs_ms(&p99s) + " ms", ms(p99), "≤ 25 ms");
    // The same load on a log of SMALL_LOG events written the same way, through the same kind
    // of server: what the year's ack p99 is compared with.
    let small = small_log(args, &config).await?;
    let (small_rates, small_p99s): (Vec<f64>, Vec<Duration>) = small.iter().map(|l| (l.per_s, l.p99)).unzip();
    table.row(
        format!("same load on a fresh log of {SMALL_LOG} events: commands/s"),
        runs_f(&small_rates, 0),
        format!("{:.0}", median_f(small_rates.clone())),
        "≥ 20,000",
    );
    let small_p99 = median_d(small_p99s.clone());
    table.row("same: ack p99", runs_ms(&small_p99s) + " ms", ms(small_p99), "≤ 25 ms");
    table.row(
        "ack p99 on the year ÷ on the small log",
        String::new(),
        format!("{:.2}", p99.as_secs_f64() / small_p99.as_secs_f64().max(1e-9)),
        "≤ 1.5",
    );
    table.row("disk fsyncs/s (same dir, same run)", String::new(), format!("{fsync:.0}"), "");
    table.row("commands/s ÷ fsyncs/s", String::new(), format!("{:.2}", rate / fsync.max(1.0)), "");

    let mut vis = Vec::new();
    for _ in 0..RUNS {
        vis.push(server::visibility(std::slice::from_ref(&url), args).await?.p99);
    }
    table.row(
        format!("visibility p99 ({} subscribers, {}/s)", args.subscribers, args.rate),
        runs_ms(&vis) + " ms",
        ms(median_d(vis)),
        "",
    );

    for &n in &args.fanout {
        let runs = fanout(&url, pid, n).await?;
        let target = |t: &'static str| if n == 10_000 { t } else { "" };
        let col = |f: &dyn Fn(&FanRun) -> Duration| runs.iter().map(f).collect::<Vec<_>>();
        let (p50, p99, ack) = (col(&|r| r.seen_p50), col(&|r| r.seen_p99), col(&|r| r.ack_p50));
        let rss: Vec<f64> = runs.iter().map(|r| r.rss_mb).collect();
        table.row(
            format!("{n} subscribers at {FANOUT_RATE}/s: seen-on-all p50"),
            runs_ms(&p50) + " ms",
            ms(median_d(p50)),
            "",
        );
        table.row(
            format!("{n} subscribers: seen-on-all p99"),
            runs_ms(&p99) + " ms",
            ms(median_d(p99)),
            target("≤ 100 ms"),
        );
        table.row(
            format!("{n} subscribers: ack p50"),
            runs_ms(&ack) + " ms",
            ms(median_d(ack)),
            target("≤ 5 ms"),
        );
        table.row(
            format!("{n} subscribers: server RSS"),
            runs_f(&rss, 0) + " MB",
            format!("{:.0} MB", median_f(rss)),
            target("≤ 256 MB"),
        );
    }

    let home = tempfile::tempdir()?;
    let (mut lists, mut rows) = (Vec::new(), 0);
    for _ in 0..LIST_RUNS {
        let (took, n) = incident_list(&url, home.path()).await?;
        lists.push(took);
        rows = n;
    }
    table.row(
        format!("`warroom incident list` ({rows} lines)"),
        runs_ms(&lists) + " ms",
        ms(median_d(lists)),
        "≤ 50 ms",
    );

    if std::process::Command::new("tmux").arg("-V").output().is_ok() {
        let (mut paints, mut rss) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            let (paint, mb) = console_start(&url, home.path(), run).await?;
            println!("year console: synced room on screen {} after start; RSS {mb:.0} MB", ms(paint));
            paints.push(paint);
            rss.push(mb);
        }
        table.row(
            "console first paint (synced room on screen)",
            runs_ms(&paints) + " ms",
            ms(median_d(paints)),
            "≤ 300 ms",
        );
        table.row("console RSS", runs_f(&rss, 0) + " MB", format!("{:.0} MB", median_f(rss)), "≤ 64 MB");
    } else {
        table.row(
            "console first paint and RSS",
            String::new(),
            "skipped: no tmux".into(),
            "≤ 300 ms, ≤ 64 MB",
        );
    }
    table.row("GET /api/v1/state", String::new(), format!("{:.1} MB", state.0 as f64 / 1e6), "");

    println!();
    println!("machine: {}", machine());
    println!(
        "year: {} incidents, {} events asked; {}; log head {head} when measured ({})",
        marker.incidents,
        marker.events,
        if reused {
            format!("reused (written earlier in {:.0} s)", marker.seconds)
        } else {
            format!(
                "written in {:.0} s by {WRITERS} writers, {} commands refused or failed",
                marker.seconds, marker.refused
            )
        },
        if args.year_dir.is_some() {
            format!("year dir {}", dir.display())
        } else {
            "a temporary dir".into()
        }
    );
    table.print();
    println!(
        "reproduce: warroom bench --only year --incidents {} --events {}{}",
        args.incidents,
        args.events,
        args.year_dir.as_ref().map(|d| format!(" --year-dir {}", d.display())).unwrap_or_default()
    );
    server.kill().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every incident's script is accepted by the model's own rules, folded in memory as the
    /// server would (deliveries simulated): a refused command would be lost load and a
    /// different log than the one the figures claim.
    #[test]
    fn a_year_of_scripts_folds_without_a_refusal() {
        let library = library().expect("the year's library loads");
        let mut state = crate::model::State::default();
        let incidents = 400;
        let open = open_at_end(incidents);
        let mut events = 0;
        for i in 0..incidents {
            let plan = Plan::draw(i, 30, i + open >= incidents);
            events +=
                fold_incident(&plan, &library, &mut state).unwrap_or_else(|e| panic!("incident {i}: {e}"));
        }
        assert_eq!(state.incidents.len(), incidents);
        let still_open = state.incidents.values().filter(|i| i.status.is_open()).count();
        assert_eq!(still_open, open, "exactly the last incidents stay open");
        assert!(state.incidents.values().all(|i| i.checklist.is_some()), "every incident has a playbook");
        assert!(state.incidents.values().any(|i| i.private && i.members.len() == 2));
        assert!(state.incidents.values().any(|i| i.severity == Severity::Sev1));
        let drills = state.incidents.values().filter(|i| i.drill).count();
        assert!((incidents / 4..incidents / 2).contains(&drills), "about a third are drills: {drills}");
        let delivered = state.incidents.values().flat_map(|i| &i.messages).count();
        assert!(delivered > incidents, "comms were sent: {delivered}");
        assert_eq!(events, state.seq);
    }

    #[test]
    fn the_calibration_aims_at_the_asked_events() {
        let library = library().expect("the year's library loads");
        let (incidents, events) = (300, 30_000);
        let mean = calibrate(incidents, events, &library).expect("calibrates");
        let mut state = crate::model::State::default();
        let mut total = 0;
        for i in 0..incidents {
            total += fold_incident(
                &Plan::draw(i, mean, i + open_at_end(incidents) >= incidents),
                &library,
                &mut state,
            )
            .expect("folds");
        }
        // Within a fifth of the aim: the year's size is in its count.
        assert!((events * 4 / 5..events * 6 / 5).contains(&total), "{total} events for an aim of {events}");
    }
}
