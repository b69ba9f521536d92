//! `/metrics` for Prometheus: counters bumped where things happen (commands and their acks in
//! the API, deliveries in the notifier), gauges read from the hub's state at each scrape.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::api::{App, HttpError};
use super::writer::Caller;
use crate::model::chaos::{RunPhase, StopCause};
use crate::model::probe::Health;
use crate::model::UserRole;

/// OpenMetrics 1.0, which Prometheus asks for first and reads natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Ack latency buckets, in seconds: a group commit acks in about a millisecond on a laptop's
/// SSD; the top buckets catch a stalled disk.
const ACK_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    kind: &'static str,
    outcome: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: String,
    outcome: &'static str,
}

/// How a posted command ended, as counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Written now.
    Ok,
    /// Its id was written before: the original answer again.
    Replay,
    /// Refused, with the error code the client was sent (`forbidden`, `conflict`, …).
    Refused(String),
    /// The store could not write it (503).
    StoreError,
    /// A bug deciding it (500).
    Internal,
}

impl CommandOutcome {
    /// From the refusal the client was sent.
    pub fn of_error(e: &HttpError) -> CommandOutcome {
        match e.1.error.as_str() {
            "unavailable" => CommandOutcome::StoreError,
            "internal" => CommandOutcome::Internal,
            code => CommandOutcome::Refused(code.to_string()),
        }
    }

    fn label(&self) -> Cow<'static, str> {
        match self {
            CommandOutcome::Ok => "ok".into(),
            CommandOutcome::Replay => "replay".into(),
            CommandOutcome::Refused(code) => format!("refused:{code}").into(),
            CommandOutcome::StoreError => "store_error".into(),
            CommandOutcome::Internal => "internal".into(),
        }
    }
}

/// The counters that live as long as the server; gauges are computed per scrape. Series are
/// created at zero (`drop(family.get_or_create(..))`) where a rate or an alert needs them
/// before their first event.
pub struct Metrics {
    commands: Family<CommandLabels, Counter>,
    ack_seconds: Histogram,
    deliveries: Family<DeliveryLabels, Counter>,
    /// The log's head when the server started: events appended since are the head minus it.
    first_seq: u64,
    /// Where `[metrics] listen` serves, once bound.
    listen: OnceLock<SocketAddr>,
    /// The server's connections, once it serves (the cap and who it turned away).
    connections: OnceLock<std::sync::Arc<super::conn::Registry>>,
}

/// The connections as `/healthz` and `/metrics` tell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Connections {
    pub open: usize,
    pub overflow: usize,
    pub max: usize,
    pub refused: u64,
}

impl Metrics {
    pub fn new(first_seq: u64) -> Metrics {
        Metrics {
            commands: Family::default(),
            ack_seconds: Histogram::new(ACK_BUCKETS),
            deliveries: Family::default(),
            first_seq,
            listen: OnceLock::new(),
            connections: OnceLock::new(),
        }
    }

    /// Reports on `registry`'s connections from now on.
    pub fn watch_connections(&self, registry: std::sync::Arc<super::conn::Registry>) {
        let _ = self.connections.set(registry);
    }

    /// Open connections, the cap, and requests refused at it; `None` before the server serves.
    pub fn connections(&self) -> Option<Connections> {
        let r = self.connections.get()?;
        let (open, overflow) = r.open();
        Some(Connections { open, overflow, max: r.max_connections(), refused: r.refused() })
    }

    /// One command posted to the API, from its receipt to its answer.
    pub fn command(&self, kind: &'static str, outcome: &CommandOutcome, took: Duration) {
        self.commands.get_or_create(&CommandLabels { kind, outcome: outcome.label() }).inc();
        self.ack_seconds.observe(took.as_secs_f64());
    }

    /// One delivery attempt on `channel`.
    pub fn delivery(&self, channel: &str, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.deliveries.get_or_create(&DeliveryLabels { channel: channel.to_string(), outcome }).inc();
    }

    /// Shows `channel` at zero before its first attempt, so a rate over it exists from the start.
    pub fn channel(&self, channel: &str) {
        for outcome in ["delivered", "failed"] {
            drop(self.deliveries.get_or_create(&DeliveryLabels { channel: channel.to_string(), outcome }));
        }
    }

    /// The address `[metrics] listen` serves on, once bound.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.get().copied()
    }

    /// The exposition: the counters as they stand, and gauges from `app`'s state now.
    pub fn render(&self, app: &App) -> String {
        let mut r = Registry::with_prefix("warroom");
        r.register(
            "commands",
            "Commands posted to /api/v1/commands, by kind and outcome (ok, replay, refused:<code>, store_error, internal)",
            self.commands.clone(),
        );
        r.register(
            "command_ack_seconds",
            "From the API's receipt of a command to its answer, in seconds",
            self.ack_seconds.clone(),
        );
        r.register(
            "notify_deliveries",
            "Attempts to deliver queued messages, by channel and outcome (delivered, failed)",
            self.deliveries.clone(),
        );
        let probe_health = Family::<ProbeLabels, Gauge>::default();
        let subscribers = Family::<RoleLabels, Gauge>::default();
        let runs = Family::<PhaseLabels, Gauge>::default();
        let ended = Family::<CauseLabels, Gauge>::default();
        let (head, appended) = {
            let state = app.hub().state();
            for run in state.chaos.runs.values() {
                runs.get_or_create(&PhaseLabels { phase: run.phase.as_str() }).inc();
                if let (RunPhase::Ended, Some(cause)) = (run.phase, run.cause) {
                    ended.get_or_create(&CauseLabels { cause: cause.as_str() }).inc();
                }
            }
            // Configured probes: the log's health for each, `unknown` before its first change.
            for view in app.inner.telemetry.views() {
                let now = state.probes.get(&view.name).map_or(Health::Unknown, |p| p.health);
                for &health in Health::ALL {
                    let labels = ProbeLabels { probe: view.name.clone(), health: health.as_str() };
                    probe_health.get_or_create(&labels).set(i64::from(health == now));
                }
            }
            (state.seq, state.seq.saturating_sub(self.first_seq))
        };
        for &phase in RunPhase::ALL {
            drop(runs.get_or_create(&PhaseLabels { phase: phase.as_str() }));
        }
        for &cause in StopCause::ALL {
            drop(ended.get_or_create(&CauseLabels { cause: cause.as_str() }));
        }
        let roles: HashMap<&str, UserRole> =
            app.inner.users.values().map(|c: &Caller| (c.name.as_str(), c.role)).collect();
        for &role in UserRole::ALL {
            drop(subscribers.get_or_create(&RoleLabels { role: role.as_str() }));
        }
        for (user, n) in app.hub().open_streams() {
            // A user gone from the config keeps no role: counted nowhere rather than guessed.
            if let Some(role) = roles.get(user.as_str()) {
                subscribers.get_or_create(&RoleLabels { role: role.as_str() }).inc_by(n as i64);
            }
        }
        let events = Counter::<u64>::default();
        events.inc_by(appended);
        r.register("events_appended", "Events appended to the log since this server started", events);
        let seq = Gauge::<i64>::default();
        seq.set(i64::try_from(head).unwrap_or(i64::MAX));
        r.register("log_head_seq", "The seq of the log's newest event", seq);
        r.register(
            "stream_subscribers",
            "Open event streams, by the role of who holds them (the role decides what a stream is filtered by)",
            subscribers,
        );
        r.register(
            "probe_health",
            "Each configured probe's health as the log records it: 1 for the current one, 0 for the others",
            probe_health,
        );
        r.register(
            "chaos_runs",
            "Chaos runs in the log, by phase (starting, running, stopping, ended)",
            runs,
        );
        r.register("chaos_runs_ended", "Ended chaos runs in the log, by why they ended", ended);
        let healthy = Gauge::<i64>::default();
        healthy.set(i64::from(app.writer_health().problem().is_none()));
        r.register(
            "writer_healthy",
            "1 while commands can be written, 0 while they cannot (/healthz says why)",
            healthy,
        );
        if let Some(c) = self.connections() {
            let open = Family::<ConnLabels, Gauge>::default();
            open.get_or_create(&ConnLabels { served: "full" }).set(i64::try_from(c.open).unwrap_or(i64::MAX));
            open.get_or_create(&ConnLabels { served: "overflow" })
                .set(i64::try_from(c.overflow).unwrap_or(i64::MAX));
            r.register(
                "connections",
                "Open connections: served in full (under the cap), or as overflow past it (only /healthz and /status)",
                open,
            );
            let max = Gauge::<i64>::default();
            max.set(i64::try_from(c.max).unwrap_or(i64::MAX));
            r.register("connections_max", "The connection cap ([limits] max_connections)", max);
            let refused = Counter::<u64>::default();
            refused.inc_by(c.refused);
            r.register(
                "connections_refused",
                "Requests refused 503 too_many_connections because every slot was busy",
                refused,
            );
        }
        let build = Family::<VersionLabels, Gauge>::default();
        build.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        r.register("build_info", "The running warroom's version, as a label; always 1", build);
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnLabels {
    served: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    probe: String,
    health: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

fn exposition(app: &App) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], app.metrics().render(app)).into_response()
}

/// `GET /metrics` on the API's address: admins only, as everything about the whole server.
pub(super) async fn get(State(app): State<App>, caller: Caller) -> Result<Response, HttpError> {
    if caller.role != UserRole::Admin {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} ({}) may not read /metrics: only admins, or a scraper on [metrics] listen",
                caller.name, caller.role
            ),
        ));
    }
    Ok(exposition(&app))
}

/// Serves `/metrics` without a token on `listen` (`[metrics] listen`, `--metrics-listen`): an
/// address only the monitoring network reaches. Stops when the server does.
pub async fn serve(listen: &str, app: App) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    // Bound once per server: a second bind is a bug, and the first address stays the answer.
    let _ = app.metrics().listen.set(addr);
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(|State(app): State<App>| async move { exposition(&app) }))
        .with_state(app.clone());
    let mut closing = app.closing();
    tokio::spawn(async move {
        let stopped = async move {
            // Ends when the server stops, or when nothing can tell it to any more.
            while !*closing.borrow_and_update() {
                if closing.changed().await.is_err() {
                    return;
                }
            }
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
            tracing::error!(%addr, error = %e, "serving /metrics stopped");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_labelled_as_the_readme_spells_it() {
        let refused = HttpError::new(StatusCode::FORBIDDEN, "forbidden", "no");
        assert_eq!(CommandOutcome::of_error(&refused).label(), "refused:forbidden");
        assert_eq!(CommandOutcome::of_error(&HttpError::unavailable("disk")).label(), "store_error");
        let bug = HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "bug");
        assert_eq!(CommandOutcome::of_error(&bug).label(), "internal");
        assert_eq!(CommandOutcome::Replay.label(), "replay");
    }
}
