//! The HTTP API under `/api/v1`: bearer auth, commands, snapshot, event pages, and the
//! JSON error shape `{error, detail}` for every refusal. Bad input is a 4xx, never a 5xx.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::oneshot;

use super::hub::{Hub, View};
use super::metrics::CommandOutcome;
use super::store::{EventReader, StoredEvent};
use super::writer::{Caller, Handle, WriteError, WriteRequest};
use crate::model::{Intent, Rejection};
use crate::protocol::{ApiError, Command};

/// Commands are small; anything larger is a mistake or an attack.
pub const MAX_BODY: usize = 64 * 1024;
pub const DEFAULT_PAGE: usize = 1000;
pub const MAX_PAGE: usize = 10_000;

#[derive(Clone)]
pub struct App {
    pub(super) inner: Arc<AppInner>,
}

pub(super) struct AppInner {
    pub hub: Arc<Hub>,
    pub writer: Handle,
    pub users: HashMap<String, Caller>,
    pub heartbeat: std::time::Duration,
    pub library: Arc<super::library::Shared>,
    pub telemetry: Arc<super::probes::Telemetry>,
    pub chaos: Arc<super::chaos::Runner>,
    pub scoreboard: Arc<super::gameday::Scoreboard>,
    /// Set when the server stops: open event streams end instead of holding shutdown up.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// Committed events for pages and stream catch-up, read beside the writer.
    events: Arc<dyn EventReader>,
    /// The serialized state for `GET /state`, kept apart from the writer's lock.
    snapshots: super::snapshots::Snapshots,
    /// Bounds the folds of `GET /state?at=` running at once.
    history: super::history::History,
    /// Whether this server runs the side effects (it holds the lease), for `/healthz`.
    effects: super::lease::Held,
    /// Counters for `/metrics`.
    metrics: super::metrics::Metrics,
    /// Commands per user (`[limits] commands_per_second`, `command_burst`).
    command_rate: super::ratelimit::CommandRate,
}

impl App {
    // One argument per shared part of the server, each built by `server::start`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        hub: Arc<Hub>,
        writer: Handle,
        users: HashMap<String, Caller>,
        events: Arc<dyn EventReader>,
        heartbeat: std::time::Duration,
        library: Arc<super::library::Shared>,
        telemetry: Arc<super::probes::Telemetry>,
        chaos: Arc<super::chaos::Runner>,
        scoreboard: Arc<super::gameday::Scoreboard>,
        effects: super::lease::Held,
        command_rate: super::ratelimit::CommandRate,
    ) -> std::io::Result<App> {
        let snapshots = super::snapshots::Snapshots::start(hub.clone())?;
        let metrics = super::metrics::Metrics::new(hub.state().seq);
        Ok(App {
            inner: Arc::new(AppInner {
                snapshots,
                hub,
                writer,
                users,
                heartbeat,
                library,
                telemetry,
                chaos,
                scoreboard,
                closing: tokio::sync::watch::Sender::new(false),
                events,
                history: super::history::History::default(),
                effects,
                metrics,
                command_rate,
            }),
        })
    }

    /// Watches for the server stopping (probe runners and streams end then).
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Ends every open event stream (used when the server stops).
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Whether commands can be written now (and the test hooks that break it).
    pub fn writer_health(&self) -> &Arc<super::writer::Health> {
        &self.inner.writer.health
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// The chaos runner (halt, shutdown, the catalogue).
    pub fn chaos(&self) -> &Arc<super::chaos::Runner> {
        &self.inner.chaos
    }

    /// The counters behind `/metrics`.
    pub fn metrics(&self) -> &super::metrics::Metrics {
        &self.inner.metrics
    }

    /// The newest game day's live scoreboard.
    pub fn scoreboard(&self) -> &Arc<super::gameday::Scoreboard> {
        &self.inner.scoreboard
    }

    /// Submits a command as `caller`, exactly as the HTTP handler does after auth.
    pub async fn submit(&self, caller: Caller, command: Command) -> Result<crate::protocol::Ack, WriteError> {
        let (reply, answer) = oneshot::channel();
        let unavailable = || WriteError::Store("the writer has stopped".into());
        let request = WriteRequest { command, caller, reply };
        self.inner.writer.tx.send(request).await.map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// The store's readers, for work that runs on a blocking thread of its own.
    pub(super) fn event_reader(&self) -> Arc<dyn EventReader> {
        self.inner.events.clone()
    }

    /// The bound on `GET /state?at=` folds.
    pub(super) fn history(&self) -> &super::history::History {
        &self.inner.history
    }

    /// Reads stored event bodies through the store's readers, off the async threads.
    pub(super) async fn event_bodies(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, HttpError> {
        let events = self.inner.events.clone();
        tokio::task::spawn_blocking(move || events.read_events(from, to, limit))
            .await
            .map_err(|e| HttpError::unavailable(e.to_string()))?
            .map_err(|e| HttpError::unavailable(e.to_string()))
    }
}

impl App {
    /// The full fold of incident `id` as of `upto`, from the log, off the async threads.
    pub(super) async fn fold_incident(
        &self,
        id: crate::model::IncidentId,
        upto: u64,
    ) -> Result<Option<crate::model::Incident>, HttpError> {
        let events = self.inner.events.clone();
        tokio::task::spawn_blocking(move || super::store::fold_incident(events.as_ref(), id, upto))
            .await
            .map_err(|e| HttpError::unavailable(e.to_string()))?
            .map_err(|e| HttpError::unavailable(e.to_string()))
    }
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/commands", post(post_command))
        .route("/api/v1/state", get(get_state))
        .route("/api/v1/incidents", get(super::incidents::list))
        .route("/api/v1/incidents/{id}", get(super::incidents::one))
        .route("/api/v1/incidents/{id}/timeline", get(super::incidents::timeline))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/library", get(get_library))
        .route("/status", get(super::status_page::html))
        .route("/status.json", get(super::status_page::json))
        .route("/api/v1/events", get(get_events))
        .route("/api/v1/stream", get(super::stream::stream))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/chaos/halt", post(post_halt))
        .route("/api/v1/gameday", get(super::gameday::get))
        .route("/gameday/scoreboard", get(super::gameday::page))
        .route("/gameday/scoreboard.json", get(super::gameday::json))
        .route("/gameday/scoreboard/stream", get(super::gameday::stream))
        .route("/metrics", get(super::metrics::get))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(refuse_old_clients))
        .layer(axum::middleware::from_fn(trace_requests))
        .with_state(app)
}

/// One log line per request (target `warroom::request`: `debug`, a server error `warn`) with
/// the method, the path without its query (share tokens travel there; headers, and so bearer
/// tokens, are never logged), the status and the latency to the response's head. What the
/// handler logs carries the request's span.
async fn trace_requests(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument as _;
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::debug_span!(target: "warroom::request", "request", %method, %path);
    let response = next.run(req).instrument(span).await;
    let status = response.status().as_u16();
    // Whole microseconds: a float's last digits are noise in a log line.
    let latency_ms = start.elapsed().as_micros() as f64 / 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(target: "warroom::request", %method, %path, status, latency_ms, "request failed");
    } else {
        tracing::debug!(target: "warroom::request", %method, %path, status, latency_ms, "request");
    }
    response
}

/// A warroom client older than [`MIN_CLIENT_VERSION`] is told to upgrade (426) instead of
/// misreading what a newer server sends. Other clients (curl, scripts) are not judged.
///
/// [`MIN_CLIENT_VERSION`]: crate::protocol::MIN_CLIENT_VERSION
async fn refuse_old_clients(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use crate::protocol::{parse_version, MIN_CLIENT_VERSION};
    // The health check and the public page answer anyone: a probe that happens to send an
    // old warroom's User-Agent must not read "down".
    if ["/healthz", "/status", "/status.json"].contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let client = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.strip_prefix("warroom/"))
        .map(|v| v.split_whitespace().next().unwrap_or(v).to_string());
    if let Some(version) = client {
        let too_old = match (parse_version(&version), parse_version(MIN_CLIENT_VERSION)) {
            (Some(have), Some(need)) => have < need,
            // A warroom that cannot say its version is older than any that can.
            (None, _) => true,
            (Some(_), None) => false,
        };
        if too_old {
            return HttpError::new(
                StatusCode::UPGRADE_REQUIRED,
                "client_too_old",
                format!(
                    "this server needs warroom {MIN_CLIENT_VERSION} or newer and you run {version}: \
                     update warroom (server {})",
                    env!("CARGO_PKG_VERSION")
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// A refusal: a status and the JSON body every client understands, and for one worth
/// sending again later, after how many seconds (`Retry-After`).
#[derive(Debug)]
pub struct HttpError(pub StatusCode, pub ApiError, pub Option<u64>);

impl HttpError {
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> Self {
        HttpError(status, ApiError { error: error.into(), detail: detail.into() }, None)
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.2 = Some(secs);
        self
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }
    pub fn detail(&self) -> &str {
        &self.1.detail
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(self.1)).into_response();
        if let Some(secs) = self.2 {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

impl From<WriteError> for HttpError {
    fn from(e: WriteError) -> Self {
        let detail = e.to_string();
        match e {
            WriteError::Rejected(Rejection::UnknownIncident(_)) => {
                HttpError::new(StatusCode::NOT_FOUND, "unknown_incident", detail)
            }
            WriteError::Rejected(Rejection::UnknownComponent(_)) => {
                HttpError::new(StatusCode::NOT_FOUND, "unknown_component", detail)
            }
            WriteError::Rejected(Rejection::UnknownScenario(_)) => {
                HttpError::new(StatusCode::NOT_FOUND, "unknown_scenario", detail)
            }
            WriteError::Rejected(Rejection::UnknownRun(_)) => {
                HttpError::new(StatusCode::NOT_FOUND, "unknown_run", detail)
            }
            WriteError::Rejected(Rejection::UnknownGameday(_)) => {
                HttpError::new(StatusCode::NOT_FOUND, "unknown_gameday", detail)
            }
            WriteError::Rejected(Rejection::Forbidden(_)) => {
                HttpError::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            WriteError::Rejected(Rejection::Conflict(_)) => {
                HttpError::new(StatusCode::CONFLICT, "conflict", detail)
            }
            WriteError::Rejected(Rejection::Invalid { .. }) => {
                HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
            }
            WriteError::KeyReused(_) => {
                HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, "key_reused", detail)
            }
            WriteError::Store(_) => HttpError::unavailable(detail),
            WriteError::Internal(_) => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail),
        }
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let unauthorized = |detail: &str| HttpError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        app.inner.users.get(token).cloned().ok_or_else(|| unauthorized("unknown token"))
    }
}

/// The truth for load balancers and monitors: 200 while commands can be written, 503 with
/// the reason while they cannot.
async fn healthz(State(app): State<App>) -> Response {
    let seq = app.hub().state().seq;
    // Of servers sharing one store, only the lease holder probes, sends and injects.
    let effects = if super::lease::holds(&app.inner.effects) { "here" } else { "standby" };
    // How full it is, and whom the cap turned away: a server answering here may still be
    // refusing everything else.
    let connections = app.metrics().connections();
    match app.writer_health().problem() {
        None => Json(serde_json::json!({
            "status": "ok", "seq": seq, "side_effects": effects, "connections": connections
        }))
        .into_response(),
        Some(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "unavailable", "detail": problem, "seq": seq, "side_effects": effects,
                "connections": connections
            })),
        )
            .into_response(),
    }
}

/// `POST /api/v1/commands`, counted by kind and outcome with its time to answer.
async fn post_command(
    State(app): State<App>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let received = std::time::Instant::now();
    let received_at = chrono::Utc::now();
    let mut kind = "unknown";
    let answer = command(&app, caller, body, &mut kind).await;
    let outcome = match &answer {
        // A replay answers with the events first written before this request arrived. (Two
        // copies racing in one batch both count as ok: the second never reached the log.)
        Ok(ack) if ack.events.first().is_some_and(|e| e.at < received_at) => CommandOutcome::Replay,
        Ok(_) => CommandOutcome::Ok,
        Err(e) => CommandOutcome::of_error(e),
    };
    app.metrics().command(kind, &outcome, received.elapsed());
    Ok(Json(answer?).into_response())
}

/// Checks and submits one posted command; `kind` is set once it is known.
async fn command(
    app: &App,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
    kind: &mut &'static str,
) -> Result<crate::protocol::Ack, HttpError> {
    let body = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::new(status, "too_large", format!("a command may be at most {MAX_BODY} bytes"))
        } else if super::conn::BodyTimedOut::in_chain(&r) {
            HttpError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", super::conn::BodyTimedOut.to_string())
        } else {
            HttpError::new(status, "bad_request", r.body_text())
        }
    })?;
    // serde reads an enum tag given as a number as the variant's position (`"kind": 0` would
    // declare an incident): only the names are the API.
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: Option<serde_json::Value>,
    }
    if let Ok(Kind { kind: Some(kind) }) = serde_json::from_slice::<Kind>(&body) {
        if !kind.is_string() {
            return Err(HttpError::bad_request(format!(
                "invalid command: `kind` must be a command name such as \"declare_incident\", got {kind}"
            )));
        }
    }
    let command: Command =
        serde_json::from_slice(&body).map_err(|e| HttpError::bad_request(invalid_command(&e)))?;
    *kind = command.intent.kind();
    // The nil id is what every `redacted` placeholder carries: a command of its own must be
    // told apart from them (and a client that sends it has not made an id at all).
    if command.id.is_nil() {
        return Err(HttpError::bad_request(
            "invalid command: `id` is the nil UUID; make a fresh one (a v4 UUID) for each command",
        ));
    }
    if command.intent.is_internal() {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} is recorded by the server itself, never sent by a client", command.intent.kind()),
        ));
    }
    if !caller.role.may(&command.intent) {
        let why = if command.intent.is_chaos() {
            ": only villains and admins drive chaos"
        } else {
            crate::model::gameday::who_may(&command.intent).unwrap_or("")
        };
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} ({}) may not {}{why}", caller.name, caller.role, command.intent.kind()),
        ));
    }
    match &command.intent {
        // The emergency stop acts before it is written, so it works while the log does not.
        // Checked first: a halt the log then refuses would leave the runner disarmed while the
        // log says armed, where `arm_chaos` is refused as already armed until a restart.
        Intent::HaltAll { reason } => {
            crate::model::intent::check_text("reason", reason, crate::model::intent::MAX_TEXT)
                .map_err(|e| HttpError::from(WriteError::Rejected(e)))?;
            app.chaos().halt_now(reason).await;
        }
        // A halt the log does not hold yet still disarms.
        Intent::StartScenario { .. } if app.chaos().is_disarmed() => {
            return Err(HttpError::new(
                StatusCode::CONFLICT,
                "conflict",
                "chaos is disarmed (halted): arm it first".to_string(),
            ));
        }
        _ => {}
    }
    // The emergency stop is never held back; everything else is, past the user's rate.
    if !matches!(command.intent, Intent::HaltAll { .. }) {
        let rate = &app.inner.command_rate;
        if let Err(limited) = rate.take(&caller.name, std::time::Instant::now()) {
            if let Some(refused) = limited.warn {
                tracing::warn!(
                    "{} is sending commands faster than [limits] commands_per_second ({}/s, \
                     command_burst {}): {refused} refused since the last warning",
                    caller.name,
                    rate.per_second(),
                    rate.burst()
                );
            }
            let secs = limited.retry_after_secs();
            return Err(HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "{} has sent more than {} commands at once or {} a second ([limits] \
                     command_burst, commands_per_second): send it again in {secs} s",
                    caller.name,
                    rate.burst(),
                    rate.per_second()
                ),
            )
            .retry_after(secs));
        }
    }
    let mut ack = app.submit(caller.clone(), command).await?;
    // New and replayed acks alike: what the caller may see now, the rest as placeholders
    // (a member removed since sees no more of their own past command than of any other).
    {
        let state = app.hub().state();
        // Only an event about a private incident needs the caller's view, and working that
        // out walks every incident: on a year's log, doing it for every ack cost more than
        // the rest of the request.
        for e in &mut ack.events {
            let readers = super::hub::audience(&state, e);
            if !readers.is_everyone() && !View::may_read(&state, &caller, readers) {
                *e = super::hub::placeholder(e);
            }
        }
    }
    Ok(ack)
}

/// The emergency stop: rolls back every run and disarms, then records; answers what it did
/// even while the log cannot be written (the record follows when it can).
async fn post_halt(
    State(app): State<App>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let request: crate::protocol::HaltRequest =
        serde_json::from_slice(&body).map_err(|e| HttpError::bad_request(format!("invalid halt: {e}")))?;
    let intent = Intent::HaltAll { reason: request.reason.clone() };
    if !caller.role.may(&intent) {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} ({}) may not halt_all: only villains and admins drive chaos",
                caller.name, caller.role
            ),
        ));
    }
    if let Err(e) =
        crate::model::intent::check_text("reason", &request.reason, crate::model::intent::MAX_TEXT)
    {
        return Err(WriteError::Rejected(e).into());
    }
    let report = app.chaos().halt(&app, caller, request.reason).await;
    Ok(Json(report).into_response())
}

async fn whoami(caller: Caller) -> Json<crate::protocol::Whoami> {
    Json(crate::protocol::Whoami { name: caller.name, role: caller.role })
}

/// The library; while a game day hides its chaos, heroes get no scenario catalogue.
async fn get_library(State(app): State<App>, caller: Caller) -> Json<super::library::Loaded> {
    let mut loaded = (*app.inner.library.get()).clone();
    let hidden = app.hub().state().gamedays.open().is_some_and(|g| g.hides_chaos());
    if hidden && !super::hub::knows_plots(caller.role) {
        loaded.library.scenarios = Vec::new();
    }
    Json(loaded)
}

/// `{log, seq, state, probes}`: the state's JSON comes shared from the snapshot thread (one
/// serialization per seq, however many read it); the probes' telemetry is added per request.
/// With `?at=SEQ`, the state as of that seq instead (see `history`).
async fn get_state(State(app): State<App>, caller: Caller, RawQuery(q): RawQuery) -> Response {
    match query_numbers(q.as_deref(), &["at"]) {
        Err(e) => e.into_response(),
        Ok(q) => match q.get("at") {
            Some(&at) => super::history::state_at(&app, &caller, at).await.unwrap_or_else(|e| e),
            None => live_state(&app, caller).await.unwrap_or_else(IntoResponse::into_response),
        },
    }
}

async fn live_state(app: &App, caller: Caller) -> Result<Response, HttpError> {
    let unavailable = || HttpError::unavailable("the state could not be serialized; see the server's log");
    let snapshot = app.inner.snapshots.current(caller).await.ok_or_else(unavailable)?;
    let state = snapshot.json.ok_or_else(unavailable)?;
    let probes = serde_json::to_vec(&app.inner.telemetry.views()).map_err(|_| unavailable())?;
    let head = format!("{{\"log\":\"{}\",\"seq\":{},\"state\":", app.hub().log, snapshot.seq);
    let mut body = Vec::with_capacity(head.len() + state.len() + probes.len() + 16);
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(&state);
    body.extend_from_slice(b",\"probes\":");
    body.extend_from_slice(&probes);
    body.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Parses `a=1&b=2` into numbers, naming the parameter that is wrong.
pub(super) fn query_numbers(raw: Option<&str>, allowed: &[&str]) -> Result<HashMap<String, u64>, HttpError> {
    let mut out = HashMap::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&key) {
            return Err(HttpError::bad_request(format!(
                "unknown query parameter `{key}` (allowed: {})",
                allowed.join(", ")
            )));
        }
        let n = value
            .parse::<u64>()
            .map_err(|_| HttpError::bad_request(format!("`{key}` must be a whole number, got `{value}`")))?;
        // Which one would count is a guess either way (a proxy may keep the first, we the
        // last): refused, as `/incidents` refuses it.
        if out.insert(key.to_string(), n).is_some() {
            return Err(HttpError::bad_request(format!("`{key}` is given more than once")));
        }
    }
    Ok(out)
}

/// This server's head, once it reached `after` if it can: on a shared store a client may
/// resume here with a seq another server gave it moments ago, before this one read it. The
/// writer is told to read the log, and the answer waits for it, at most [`CATCH_UP_WAIT`].
pub(super) async fn head_reaching(app: &App, after: u64) -> u64 {
    let head = app.hub().state().seq;
    let Some(follow) = app.inner.writer.follow.as_ref().filter(|_| after > head) else { return head };
    // Subscribed before looking again: an event applied after the look is announced after it.
    let mut published = app.hub().subscribe();
    follow.notify_one();
    let reached = async {
        loop {
            let head = app.hub().state().seq;
            if head >= after {
                return;
            }
            if let Err(tokio::sync::broadcast::error::RecvError::Closed) = published.recv().await {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(CATCH_UP_WAIT, reached).await;
    app.hub().state().seq
}

/// How long a read on a shared store waits for this server to reach a seq a client already has.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A reader can only be behind the log or at its head. Past it, it knows events this log
/// never had (its server was reset or replaced): a 400 its sync reads as "reload".
pub(super) fn check_after(after: u64, head: u64) -> Result<(), HttpError> {
    if after > head {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            crate::protocol::AHEAD_OF_LOG,
            format!("after {after} is beyond this log's newest event ({head}): reload the snapshot"),
        ));
    }
    Ok(())
}

async fn get_events(
    State(app): State<App>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, HttpError> {
    let q = query_numbers(q.as_deref(), &["after", "limit"])?;
    let after = q.get("after").copied().unwrap_or(0);
    let limit = q.get("limit").map_or(DEFAULT_PAGE, |&l| l as usize);
    if limit == 0 || limit > MAX_PAGE {
        return Err(HttpError::bad_request(format!("`limit` must be between 1 and {MAX_PAGE}")));
    }
    head_reaching(&app, after).await;
    let (head, view) = {
        let state = app.hub().state();
        (state.seq, View::of(&state, &caller))
    };
    check_after(after, head)?;
    let rows = if after >= head { Vec::new() } else { app.event_bodies(after + 1, head, limit).await? };
    let redacted = |row: &StoredEvent| super::hub::placeholder_json(row.seq, &row.body);
    // Stored bodies are already the events' JSON: splice them rather than re-encode.
    let mut body = String::with_capacity(rows.iter().map(|r| r.body.len() + 1).sum::<usize>() + 32);
    body.push_str("{\"events\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        if view.sees_stored(row.audience.as_deref()) {
            body.push_str(&row.body);
        } else {
            body.push_str(&redacted(row));
        }
    }
    body.push_str(&format!("],\"head\":{head}}}"));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn openapi(_caller: Caller) -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

async fn not_found() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /api/v1/openapi.json")
}

async fn method_not_allowed() -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Why a command's body did not read, as serde says it, except that an unknown `kind` lists
/// only the kinds a client may send (not the server's own records, which are refused anyway).
fn invalid_command(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let unknown_kind = text
        .strip_prefix("unknown variant `")
        .and_then(|rest| rest.split_once('`'))
        .filter(|(_, expected)| expected.contains("`declare_incident`"));
    match unknown_kind {
        Some((given, _)) => format!(
            "invalid command: unknown kind `{}`; a command's kind is one of {}",
            crate::present::escape_control(given),
            super::openapi::client_kinds().join(", ")
        ),
        None => format!("invalid command: {text}"),
    }
}
