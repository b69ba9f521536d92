//! The probe runner: each probe on its own fixed schedule (no drift; a slow or hanging target
//! delays nobody else), samples kept in a bounded in-memory ring and streamed, and only a
//! change of health written to the log — as a command, like any other actor's.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use chrono::Utc;
use tokio::sync::{broadcast, Semaphore};
use tokio::time::Instant;

use super::api::App;
use super::reactor::{self, Issued};
use crate::config::ProbeKind;
use crate::model::probe::{classify, next_health, Health, Observation, Sample};
use crate::model::Intent;
use crate::protocol::Command;
// The checked spec is the model's and the view is the wire's; re-exported so the rest of
// `server/` keeps naming them `probes::Spec` and `probes::ProbeView`.
pub use crate::model::probe::Spec;
pub use crate::protocol::{ProbeView, SNAPSHOT_SAMPLES};

/// Samples kept per probe: an hour at the probe's interval, at most this many.
pub const RING_MAX: usize = 1000;
/// Checks running at once across all probes; the rest wait their turn (briefly).
const CONCURRENCY: usize = 512;
/// Bytes of a response body read for `[BODY]` conditions.
const BODY_LIMIT: usize = 64 * 1024;

/// The in-memory side of probing: rings of samples and their live broadcast.
pub struct Telemetry {
    specs: Vec<Spec>,
    rings: Mutex<HashMap<String, VecDeque<Sample>>>,
    live: broadcast::Sender<Bytes>,
}

impl Telemetry {
    pub fn new(specs: Vec<Spec>) -> Telemetry {
        let (live, _) = broadcast::channel(4096);
        Telemetry { specs, rings: Mutex::new(HashMap::new()), live }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.live.subscribe()
    }

    pub fn views(&self) -> Vec<ProbeView> {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        self.specs
            .iter()
            .map(|s| ProbeView {
                name: s.name.clone(),
                kind: s.kind.as_str().to_string(),
                target: s.target.clone(),
                interval_ms: s.interval.as_millis() as u64,
                conditions: s.conditions.iter().map(|c| c.text().to_string()).collect(),
                degraded: s.degraded.iter().map(|c| c.text().to_string()).collect(),
                auto_declare: s.auto_declare,
                samples: rings
                    .get(&s.name)
                    .map(|r| r.iter().skip(r.len().saturating_sub(SNAPSHOT_SAMPLES)).cloned().collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    fn record(&self, spec: &Spec, mut sample: Sample) {
        let cap = ((3600 * 1000) / spec.interval.as_millis().max(1) as usize).clamp(10, RING_MAX);
        {
            let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
            let ring = rings.entry(spec.name.clone()).or_default();
            if ring.len() >= cap {
                ring.pop_front();
            }
            let hour_ago = sample.at - chrono::Duration::hours(1);
            let (n, ok) = ring
                .iter()
                .filter(|s| s.at >= hour_ago)
                .chain(std::iter::once(&sample))
                .fold((0u32, 0u32), |(n, ok), s| (n + 1, ok + u32::from(s.health != Health::Down)));
            sample.uptime_hour = f64::from(ok) * 100.0 / f64::from(n.max(1));
            ring.push_back(sample.clone());
        }
        let frame = Bytes::from(format!(
            "event: sample\ndata: {}\n\n",
            serde_json::to_string(&sample).unwrap_or_default()
        ));
        // Telemetry is lossy by design: nobody listening is fine.
        let _ = self.live.send(frame);
    }
}

/// Starts one task per probe.
pub fn spawn(app: App, telemetry: Arc<Telemetry>) {
    // A fresh connection per check, as a new customer makes: `[RESPONSE_TIME]` includes
    // connecting, a service that stopped accepting is seen at once (not after a pooled
    // connection dies), and network faults put on new connections (a chaos proxy's latency)
    // reach the probe.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap_or_default();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let n = telemetry.specs.len().max(1) as u32;
    for (i, spec) in telemetry.specs.iter().cloned().enumerate() {
        // Spread first runs over one interval so a thousand probes do not fire at once.
        let offset = spec.interval / n * i as u32;
        let (app, telemetry, http, limit) = (app.clone(), telemetry.clone(), http.clone(), limit.clone());
        tokio::spawn(async move { run(app, telemetry, http, limit, spec, offset).await });
    }
}

async fn run(
    app: App,
    telemetry: Arc<Telemetry>,
    http: reqwest::Client,
    limit: Arc<Semaphore>,
    spec: Spec,
    offset: Duration,
) {
    let mut closing = app.closing();
    let mut recent: VecDeque<Health> = VecDeque::new();
    let keep = spec.failure_threshold.max(spec.success_threshold);
    let mut next = Instant::now() + offset;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = closing.changed() => return,
        }
        let scheduled = next;
        // The schedule is a fixed grid: a late run never shifts the ones after it.
        next += spec.interval;
        while next <= Instant::now() {
            next += spec.interval;
        }
        let scheduled_at = Utc::now() - chrono::Duration::from_std(scheduled.elapsed()).unwrap_or_default();
        let Ok(_permit) = limit.acquire().await else { return };
        let started = Utc::now();
        let observation = observe(&http, &spec).await;
        let verdict = classify(&spec.conditions, &spec.degraded, &observation);
        telemetry.record(
            &spec,
            Sample {
                probe: spec.name.clone(),
                at: started,
                scheduled: scheduled_at,
                health: verdict.health,
                response_ms: observation.response_ms,
                status: observation.status,
                failed: verdict.failed.clone(),
                uptime_hour: 0.0,
            },
        );
        recent.push_back(verdict.health);
        while recent.len() > keep {
            recent.pop_front();
        }
        // The change is named by what it changes from (health and since when), so recording it
        // again after a lost answer is kept once.
        let (current, since) = app
            .hub()
            .state()
            .probes
            .get(&spec.name)
            .map_or((Health::Unknown, String::new()), |p| (p.health, p.since.to_rfc3339()));
        let recent_slice: Vec<Health> = recent.iter().copied().collect();
        let next_state = next_health(current, &recent_slice, spec.failure_threshold, spec.success_threshold);
        if next_state != current {
            let intent = Intent::RecordProbe {
                probe: spec.name.clone(),
                health: next_state,
                failed: if next_state.is_bad() { verdict.failed } else { Vec::new() },
                auto_declare: spec.auto_declare,
            };
            let id = reactor::name_id(&[&spec.name, &since, current.as_str(), next_state.as_str()]);
            match reactor::issue(&app, Command { id, intent }).await {
                // A conflict means the log already says so (a restart raced us): fine.
                Issued::Recorded(_) | Issued::AlreadyRecorded | Issued::Settled(_) => {}
                // The next run sees the same change and records it again, under the same id.
                Issued::Failed(e) => tracing::warn!(
                    probe = %spec.name,
                    from = %current,
                    to = %next_state,
                    "probe {}: the change from {current} to {next_state} was not recorded: {e}; \
                     trying again on its next run",
                    spec.name
                ),
            }
        }
    }
}

/// The innermost cause: "Connection refused (os error 111)" says more on a board than
/// reqwest's outer "error sending request for url …".
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

async fn observe(http: &reqwest::Client, spec: &Spec) -> Observation {
    let start = std::time::Instant::now();
    let ms = |s: std::time::Instant| s.elapsed().as_millis() as u64;
    match spec.kind {
        ProbeKind::Tcp => {
            match tokio::time::timeout(spec.timeout, tokio::net::TcpStream::connect(&spec.target)).await {
                Ok(Ok(stream)) => Observation {
                    connected: true,
                    response_ms: ms(start),
                    ip: stream.peer_addr().ok().map(|a| a.ip().to_string()),
                    ..Default::default()
                },
                Ok(Err(e)) => {
                    Observation { response_ms: ms(start), error: Some(e.to_string()), ..Default::default() }
                }
                Err(_) => Observation {
                    response_ms: ms(start),
                    error: Some(format!("timed out after {:?}", spec.timeout)),
                    ..Default::default()
                },
            }
        }
        ProbeKind::Http => {
            let attempt = async {
                let resp = http.get(&spec.target).send().await.map_err(|e| root_cause(&e))?;
                let status = resp.status().as_u16();
                let ip = resp.remote_addr().map(|a| a.ip().to_string());
                let mut body = Vec::new();
                let mut stream = resp;
                while let Some(chunk) = stream.chunk().await.map_err(|e| root_cause(&e))? {
                    let room = BODY_LIMIT.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if room <= chunk.len() {
                        break;
                    }
                }
                Ok::<_, String>((status, ip, String::from_utf8_lossy(&body).into_owned()))
            };
            match tokio::time::timeout(spec.timeout, attempt).await {
                Ok(Ok((status, ip, body))) => Observation {
                    status: Some(status),
                    response_ms: ms(start),
                    body: Some(body),
                    connected: true,
                    ip,
                    error: None,
                },
                Ok(Err(e)) => Observation { response_ms: ms(start), error: Some(e), ..Default::default() },
                Err(_) => Observation {
                    response_ms: ms(start),
                    error: Some(format!("timed out after {:?}", spec.timeout)),
                    ..Default::default()
                },
            }
        }
    }
}
