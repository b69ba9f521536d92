//! The notifier: delivers queued messages on the server's own channels (never a destination
//! from a client) and records every attempt as a command, so delivery is on the timeline.
//! Failures retry with backoff until delivered or given up — never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use uuid::Uuid;

use super::api::App;
use super::reactor::{self, Backoff, Issued, Reactor};
use crate::config::{ChannelConfig, ChannelKind, SmtpTls};
use crate::model::comms::Delivery;
use crate::model::{Event, Fact, IncidentId, Intent, State};
use crate::present::error_chain;
use crate::protocol::Command;

/// Attempts before giving up (about 8 minutes of backoff in all).
pub const MAX_ATTEMPTS: u32 = 10;
/// How delivery attempts are spaced: 250 ms, doubling, at most a minute apart.
pub const BACKOFF: Backoff =
    Backoff { first: Duration::from_millis(250), max: Duration::from_secs(60), attempts: MAX_ATTEMPTS };
/// Keeps the notifier's attempt ids apart from other reactors' (and equal to those logged
/// before the reactor existed, so a restart across the upgrade still recognises them).
const ID_SALT: u64 = 0xd311;

struct Job {
    incident: IncidentId,
    message: Uuid,
    channel: String,
    text: String,
    attempts: u32,
}

struct Notifier {
    app: App,
    channels: HashMap<String, ChannelConfig>,
    http: reqwest::Client,
    backoff: Backoff,
}

pub fn spawn(app: App, channels: Vec<ChannelConfig>) {
    spawn_with(app, channels, BACKOFF);
}

/// As [`spawn`], with its own spacing of attempts (tests use [`Backoff::immediate`]).
pub fn spawn_with(app: App, channels: Vec<ChannelConfig>, backoff: Backoff) {
    let http = http_client();
    let hub = app.hub().clone();
    for c in &channels {
        app.metrics().channel(&c.name);
    }
    let n = Notifier {
        channels: channels.into_iter().map(|c| (c.name.clone(), c)).collect(),
        app,
        http,
        backoff,
    };
    reactor::spawn(hub, n);
}

impl Reactor for Notifier {
    type Key = Uuid;
    type Job = Job;

    fn observe(&self, event: &Event) -> Option<(Uuid, Job)> {
        match &event.fact {
            Fact::MessageQueued { incident, message, channel, text, .. } => Some((
                *message,
                Job {
                    incident: *incident,
                    message: *message,
                    channel: channel.clone(),
                    text: text.clone(),
                    attempts: 0,
                },
            )),
            _ => None,
        }
    }

    /// Messages still pending from before a restart (or a lag) are picked up again.
    fn pending(&self, state: &State) -> Vec<(Uuid, Job)> {
        state
            .incidents
            .values()
            .flat_map(|inc| inc.messages.iter().map(move |m| (inc.id, m)))
            .filter_map(|(incident, m)| match m.delivery {
                Delivery::Pending { attempts, .. } => Some((
                    m.id,
                    Job {
                        incident,
                        message: m.id,
                        channel: m.channel.clone(),
                        text: m.text.clone(),
                        attempts,
                    },
                )),
                _ => None,
            })
            .collect()
    }

    async fn work(self: Arc<Self>, job: Job) {
        self.deliver(job).await
    }
}

impl Notifier {
    async fn deliver(&self, job: Job) {
        let mut attempt = job.attempts;
        loop {
            // Only what is still pending goes out: a drill's message withheld when it was
            // queued, or one an earlier attempt settled, is never sent.
            let pending = {
                let state = self.app.hub().state();
                state
                    .incidents
                    .get(&job.incident)
                    .and_then(|i| i.messages.iter().find(|m| m.id == job.message))
                    .is_some_and(|m| matches!(m.delivery, Delivery::Pending { .. }))
            };
            if !pending {
                return;
            }
            let result = match self.channels.get(&job.channel) {
                Some(channel) => self.send(channel, &job.text).await,
                None => Err(format!("channel `{}` is not configured on this server any more", job.channel)),
            };
            attempt += 1;
            let ok = result.is_ok();
            self.app.metrics().delivery(&job.channel, ok);
            let last = !ok && (self.backoff.is_last(attempt) || !self.channels.contains_key(&job.channel));
            let detail = result.unwrap_or_else(|e| e);
            // One id per attempt: a retry after a crash records the same attempt once.
            let id = reactor::step_id(job.message, attempt, ID_SALT);
            let outcome = if ok { "delivered" } else { "failed" };
            let intent = Intent::RecordDelivery {
                incident: job.incident,
                message: job.message,
                ok,
                detail: detail.clone(),
                last,
            };
            match reactor::issue(&self.app, Command { id, intent }).await {
                Issued::Recorded(_) | Issued::AlreadyRecorded => {}
                // Someone (an earlier run) already settled it.
                Issued::Settled(_) => return,
                Issued::Failed(e) => {
                    // The attempt happened but the log does not say so; the message stays
                    // pending, and is picked up again after a restart or a lag.
                    tracing::error!(
                        incident = %job.incident,
                        message_id = %job.message,
                        channel = %job.channel,
                        "notifier: attempt {attempt} of message {} for {} on channel `{}` \
                         ({outcome}: {detail}) was not recorded: {e}; stopped delivering it for now",
                        job.message,
                        job.incident,
                        job.channel
                    );
                    return;
                }
            }
            if ok || last {
                return;
            }
            self.backoff.wait(attempt).await;
        }
    }

    /// One attempt; `Ok` carries what the receiver said, `Err` why it failed.
    async fn send(&self, channel: &ChannelConfig, text: &str) -> Result<String, String> {
        send_on(&self.http, channel, text).await
    }
}

/// One attempt on `channel` (the notifier's, and the game day's kick-offs).
pub(super) async fn send_on(
    http: &reqwest::Client,
    channel: &ChannelConfig,
    text: &str,
) -> Result<String, String> {
    match channel.kind {
        ChannelKind::DryRun => Ok("dry run: recorded, not sent".into()),
        ChannelKind::Statuspage => Ok("published on the status page".into()),
        ChannelKind::Webhook => post(http, channel, serde_json::json!({ "text": text })).await,
        ChannelKind::Social => post(http, channel, serde_json::json!({ "status": text })).await,
        ChannelKind::Email => email(channel, text).await,
    }
}

/// The HTTP client the server's own deliveries use: bounded, so no receiver holds one forever.
pub(super) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

async fn post(
    http: &reqwest::Client,
    channel: &ChannelConfig,
    body: serde_json::Value,
) -> Result<String, String> {
    let url = channel.url.as_deref().ok_or("no url")?;
    let mut req = http.post(url).json(&body);
    if let Some(t) = &channel.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status();
    if status.is_success() {
        Ok(format!("HTTP {}", status.as_u16()))
    } else {
        let body = resp.text().await.unwrap_or_default();
        Err(format!("HTTP {}: {}", status.as_u16(), body.chars().take(120).collect::<String>()))
    }
}

/// Reads the recipients file: one address a line; blank lines and `#` comments skipped.
pub fn recipients(channel: &ChannelConfig) -> Result<Vec<Mailbox>, String> {
    let path = channel.recipients_file.as_ref().ok_or("no recipients_file")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(line.parse::<Mailbox>().map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))?);
    }
    if out.is_empty() {
        return Err(format!("{}: no recipients", path.display()));
    }
    Ok(out)
}

fn from_address(channel: &ChannelConfig) -> Result<lettre::Address, String> {
    let from: Mailbox = channel.from.as_deref().unwrap_or("").parse().map_err(|e| format!("from: {e}"))?;
    Ok(from.email)
}

async fn email(channel: &ChannelConfig, text: &str) -> Result<String, String> {
    let to = recipients(channel)?;
    let from: Mailbox = channel.from.as_deref().unwrap_or("").parse().map_err(|e| format!("from: {e}"))?;
    let subject: String = text.lines().next().unwrap_or("Incident update").chars().take(78).collect();
    // Recipients go in Bcc: customers never see each other's addresses.
    let mut builder = lettre::Message::builder().from(from.clone()).to(from).subject(subject);
    for r in &to {
        builder = builder.bcc(r.clone());
    }
    let message = builder.body(text.to_string()).map_err(|e| e.to_string())?;
    let smtp = channel.smtp.as_deref().ok_or("no smtp")?;
    let (host, port) = match smtp.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("smtp: bad port in `{smtp}`"))?),
        None => (smtp, 25),
    };
    let transport = match channel.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port),
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?.port(port)
        }
    }
    .timeout(Some(Duration::from_secs(10)))
    .build();
    // The envelope carries only the recipients: the `To: from` header is not a delivery.
    let envelope = lettre::address::Envelope::new(
        Some(from_address(channel)?),
        to.iter().map(|m| m.email.clone()).collect(),
    )
    .map_err(|e| e.to_string())?;
    transport.send_raw(&envelope, &message.formatted()).await.map_err(|e| error_chain(&e))?;
    Ok(format!("sent to {} recipients", to.len()))
}
