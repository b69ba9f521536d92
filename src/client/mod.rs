//! The sync client: sends commands, loads snapshots and event pages, follows the SSE stream.
//! Typed errors tell "the server is away" (retry, queue) from "the server said no" (show it).

pub mod outbox;
pub mod replay;
pub mod replica;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;

use crate::present::error_chain;
use crate::protocol::{
    Ack, ApiError, Command, Event, EventPage, Snapshot, API_PREFIX, RESYNC_EVENT, SHUTDOWN_EVENT,
};

/// How many times `state_at` asks again a server busy folding past states.
const STATE_AT_TRIES: usize = 5;
/// How many times `send` sends a command again that the server held to its user's rate.
const SEND_TRIES: usize = 5;

/// The wait a 429 names (`Retry-After`, whole seconds), kept between 1 and 10 s.
fn retry_after(resp: &reqwest::Response) -> Duration {
    let secs = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 10);
    Duration::from_secs(secs)
}

/// Events asked for at a time when reading a range (the server's largest page).
const EVENT_PAGE: usize = 10_000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No answer, or the server could not serve right now: worth retrying later.
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The server understood and refused: retrying the same thing will not help.
    #[error("{detail} ({status} {error})")]
    Rejected { status: u16, error: String, detail: String },
    /// The server answered something this client cannot read.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
}

impl ClientError {
    /// Whether a queued command should stay queued: anything but a warroom server's own
    /// refusal (an answer from a proxy or some other service refuses nothing).
    pub fn keeps_queued(&self) -> bool {
        !matches!(self, ClientError::Rejected { .. })
    }
}

/// One item of the event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// Connected; the server's newest seq at that moment, and which log it is.
    Hello {
        head: u64,
        log: Option<uuid::Uuid>,
    },
    Event(Event),
    /// A probe sample (telemetry: not in the log, no seq).
    Sample(crate::model::probe::Sample),
    /// Nothing happened for a while; the server's newest seq.
    Heartbeat {
        head: u64,
    },
    /// The stream cannot continue from where the client is: reload the snapshot.
    Resync(String),
    /// The server is stopping (a restart, most likely): reconnect after this wait, from the
    /// last event received. Not an error.
    Shutdown {
        reconnect_after: Duration,
    },
}

/// The longest a shutdown notice may make a client wait before it reconnects.
const MAX_RECONNECT_AFTER: Duration = Duration::from_secs(30);

/// What a client does the first time its server answers it (see [`Client::on_first_answer`]).
type AnswerHook = Arc<dyn Fn(&Client) + Send + Sync>;

#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    /// Whether the server has answered a call with success yet (shared by clones).
    answered: Arc<std::sync::atomic::AtomicBool>,
    on_answer: Option<AnswerHook>,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            // The server answers a client too old for it with a clear 426, not a misread.
            .user_agent(crate::protocol::USER_AGENT)
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Protocol { url: base.into(), detail: e.to_string() })?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
            answered: Arc::default(),
            on_answer: None,
        })
    }

    /// Runs `hook` once, the first time any call of this client (or a clone) succeeds: the
    /// CLI records there that the server was reached, whatever verb reached it.
    pub fn on_first_answer(mut self, hook: impl Fn(&Client) + Send + Sync + 'static) -> Client {
        self.on_answer = Some(Arc::new(hook));
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Who this client acts as, without the token: what the outbox records as owner.
    pub fn token_fingerprint(&self) -> String {
        outbox::fingerprint(&self.token)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base)
    }

    fn unreachable(&self, e: impl std::error::Error) -> ClientError {
        ClientError::Unreachable { url: self.base.clone(), detail: error_chain(&e) }
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = resp.status();
        if status.is_success() {
            if !self.answered.swap(true, std::sync::atomic::Ordering::Relaxed) {
                if let Some(hook) = &self.on_answer {
                    hook(self);
                }
            }
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let Ok(api) = serde_json::from_str::<ApiError>(&body) else {
            // Not a warroom answer: a proxy, a wrong URL, another service on the port.
            return Err(ClientError::Protocol {
                url: self.base.clone(),
                detail: format!(
                    "HTTP {status} that is not from a warroom server: {}",
                    body.chars().take(120).collect::<String>()
                ),
            });
        };
        // A warroom 500 is a bug met deciding this very command: sending it again would meet
        // it again, so it is a refusal, not a reason to keep it queued.
        let transient = status.is_server_error() && status != StatusCode::INTERNAL_SERVER_ERROR;
        if transient || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ClientError::Unreachable {
                url: self.base.clone(),
                detail: format!("{} ({status})", api.detail),
            });
        }
        Err(ClientError::Rejected { status: status.as_u16(), error: api.error, detail: api.detail })
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T, ClientError> {
        let bytes = self.check(resp).await?.bytes().await.map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Protocol { url: self.base.clone(), detail: e.to_string() })
    }

    /// Sends one command. A server that holds this user to their rate (429 `rate_limited`) is
    /// sent the same command again after the wait it names, a few times: the id makes the
    /// copy harmless. Past that the command is as good as unsent (`Unreachable`): the
    /// console's and the CLI's outboxes keep it.
    pub async fn send(&self, command: &Command) -> Result<Ack, ClientError> {
        let request = || self.http.post(self.url("/commands")).timeout(Duration::from_secs(15)).json(command);
        let resp = self.patiently(SEND_TRIES, request).await?;
        self.json(resp).await
    }

    /// Sends what `request` builds (with this client's token); a 429 is sent again after the
    /// wait it names (`Retry-After`), up to `tries` more times, and the last answer is returned.
    async fn patiently(
        &self,
        tries: usize,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut waited = 0;
        loop {
            let resp = request().bearer_auth(&self.token).send().await.map_err(|e| self.unreachable(e))?;
            if resp.status() != StatusCode::TOO_MANY_REQUESTS || waited == tries {
                return Ok(resp);
            }
            waited += 1;
            tokio::time::sleep(retry_after(&resp)).await;
        }
    }

    /// A GET under `/api/v1`, answered with JSON.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.json(resp).await
    }

    /// The shared state, closed incidents as summaries: the state keeps to that window as
    /// events are applied, so a client's memory follows what is open, not the year behind.
    pub async fn snapshot(&self) -> Result<Snapshot, ClientError> {
        let mut snap: Snapshot = self.get("/state", Duration::from_secs(30)).await?;
        snap.state.set_window(crate::model::Window::Summaries);
        Ok(snap)
    }

    /// The state as of `seq` (`GET /api/v1/state?at=`), closed incidents as summaries, as this
    /// user may see it now; `probes` is empty (samples are live only). A server busy folding
    /// other past states (429) is asked again after the wait it names, a few times.
    pub async fn state_at(&self, seq: u64) -> Result<Snapshot, ClientError> {
        let url = self.url(&format!("/state?at={seq}"));
        let request = || self.http.get(&url).timeout(Duration::from_secs(60));
        let resp = self.patiently(STATE_AT_TRIES, request).await?;
        let mut snap: Snapshot = self.json(resp).await?;
        snap.state.set_window(crate::model::Window::Summaries);
        Ok(snap)
    }

    /// Every event with `after < seq <= last`, page after page, as this user may read them
    /// (the rest as `redacted` placeholders): gap-free, or an error naming the hole.
    pub async fn events_through(&self, after: u64, last: u64) -> Result<Vec<Event>, ClientError> {
        let mut out: Vec<Event> = Vec::new();
        let mut seen = after;
        while seen < last {
            let want = usize::try_from(last - seen).unwrap_or(usize::MAX).min(EVENT_PAGE);
            let page = self.events(seen, want).await?;
            if page.events.is_empty() {
                return Err(ClientError::Protocol {
                    url: self.base.clone(),
                    detail: format!("the log ends at seq {} before {last}", page.head),
                });
            }
            for e in page.events.into_iter().take_while(|e| e.seq <= last) {
                if e.seq != seen + 1 {
                    return Err(ClientError::Protocol {
                        url: self.base.clone(),
                        detail: format!("event page skips from seq {seen} to {}", e.seq),
                    });
                }
                seen = e.seq;
                out.push(e);
            }
        }
        Ok(out)
    }

    /// What `warroom replay` plays: incident `id` in full, the state just before its first
    /// entry, and every event from there to its last entry.
    pub async fn replay(&self, id: crate::model::IncidentId) -> Result<replay::Replay, ClientError> {
        let full = self.incident(id).await?;
        let protocol = |detail: String| ClientError::Protocol { url: self.base.clone(), detail };
        let (Some(first), Some(last)) = (full.incident.timeline.first(), full.incident.timeline.last())
        else {
            return Err(protocol(format!("{id} came without its timeline")));
        };
        let (first, last) = (first.seq, last.seq);
        let base = self.state_at(first.saturating_sub(1)).await?;
        if base.log != full.log {
            return Err(protocol(format!("the server's log changed while {id} was loading: try again")));
        }
        let events = self.events_through(base.seq, last).await?;
        replay::Replay::new(&full.incident, base.state, events).map_err(|e| protocol(e.to_string()))
    }

    /// One page of incident summaries; `query` is the endpoint's query string (already
    /// encoded, e.g. `status=open&limit=100`).
    pub async fn incidents(&self, query: &str) -> Result<crate::protocol::IncidentPage, ClientError> {
        self.get(&format!("/incidents?{query}"), Duration::from_secs(30)).await
    }

    /// Every incident summary matching `query`, page after page.
    pub async fn all_incidents(
        &self,
        query: &str,
    ) -> Result<Vec<crate::protocol::IncidentSummary>, ClientError> {
        let mut all = Vec::new();
        loop {
            let sep = if query.is_empty() { "" } else { "&" };
            let page = self.incidents(&format!("{query}{sep}offset={}&limit=1000", all.len())).await?;
            let got = page.incidents.len();
            all.extend(page.incidents);
            if got == 0 || all.len() >= page.total {
                return Ok(all);
            }
        }
    }

    /// An incident in full (however long ago it closed), as of the seq the answer names.
    pub async fn incident(
        &self,
        id: crate::model::IncidentId,
    ) -> Result<crate::protocol::FullIncident, ClientError> {
        self.get(&format!("/incidents/{id}"), Duration::from_secs(30)).await
    }

    /// Timeline entries `from..from + limit` of an incident.
    pub async fn timeline(
        &self,
        id: crate::model::IncidentId,
        from: u64,
        limit: u64,
    ) -> Result<crate::protocol::TimelinePage, ClientError> {
        self.get(&format!("/incidents/{id}/timeline?from={from}&limit={limit}"), Duration::from_secs(30))
            .await
    }

    pub async fn whoami(&self) -> Result<crate::protocol::Whoami, ClientError> {
        self.get("/whoami", Duration::from_secs(10)).await
    }

    /// The server's playbooks and channels (and what failed to load).
    pub async fn library(&self) -> Result<crate::protocol::Loaded, ClientError> {
        self.get("/library", Duration::from_secs(10)).await
    }

    /// The newest game day and its scoreboard, as this user may see them.
    pub async fn gameday(&self) -> Result<crate::protocol::GamedayView, ClientError> {
        self.get("/gameday", Duration::from_secs(10)).await
    }

    /// The emergency stop: every run rolled back and chaos disarmed. Straight to the server,
    /// never through the outbox: a halt queued for later is no halt, so an unreachable server
    /// is an error the caller shows at once.
    pub async fn halt(&self, reason: &str) -> Result<crate::protocol::HaltReport, ClientError> {
        let resp = self
            .http
            .post(self.url("/chaos/halt"))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(15))
            .json(&crate::protocol::HaltRequest { reason: reason.to_string() })
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.json(resp).await
    }

    pub async fn events(&self, after: u64, limit: usize) -> Result<EventPage, ClientError> {
        self.get(&format!("/events?after={after}&limit={limit}"), Duration::from_secs(30)).await
    }

    /// Opens the live stream after `after`. Items arrive in seq order.
    pub async fn stream(
        &self,
        after: u64,
    ) -> Result<impl Stream<Item = Result<StreamItem, ClientError>> + Send + Unpin + 'static, ClientError>
    {
        let resp = self
            .http
            .get(self.url("/stream"))
            .bearer_auth(&self.token)
            .header("Last-Event-ID", after.to_string())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let resp = self.check(resp).await?;
        let base = self.base.clone();
        Ok(Box::pin(resp.bytes_stream().eventsource().map(move |item| {
            let protocol = |detail: String| ClientError::Protocol { url: base.clone(), detail };
            let sse =
                item.map_err(|e| ClientError::Unreachable { url: base.clone(), detail: e.to_string() })?;
            match sse.event.as_str() {
                "hello" | "heartbeat" => {
                    let v: serde_json::Value =
                        serde_json::from_str(&sse.data).map_err(|e| protocol(e.to_string()))?;
                    let head = v["head"].as_u64().unwrap_or(0);
                    Ok(if sse.event == "hello" {
                        let log = v["log"].as_str().and_then(|l| uuid::Uuid::parse_str(l).ok());
                        StreamItem::Hello { head, log }
                    } else {
                        StreamItem::Heartbeat { head }
                    })
                }
                RESYNC_EVENT => Ok(StreamItem::Resync(sse.data)),
                // The wait is advice: one that cannot be read is the SSE `retry`, or a second.
                SHUTDOWN_EVENT => {
                    let after = serde_json::from_str::<crate::protocol::ShutdownNotice>(&sse.data)
                        .map(|n| Duration::from_millis(n.reconnect_after_ms))
                        .ok()
                        .or(sse.retry)
                        .unwrap_or(Duration::from_secs(1));
                    Ok(StreamItem::Shutdown { reconnect_after: after.min(MAX_RECONNECT_AFTER) })
                }
                "sample" => serde_json::from_str(&sse.data)
                    .map(StreamItem::Sample)
                    .map_err(|e| protocol(format!("sample: {e}"))),
                _ => serde_json::from_str(&sse.data)
                    .map(StreamItem::Event)
                    .map_err(|e| protocol(format!("event {}: {e}", sse.id))),
            }
        })))
    }
}
