//! Game days on the server: the live scoreboard (a [`Tally`] of the newest game day, fed by
//! committed events and rebuilt from the log at start), `GET /api/v1/gameday` for consoles,
//! and the big-screen page `/gameday/scoreboard` behind a read-only share token that updates
//! over its own event stream. What a caller is shown follows the game day's style: heroes see
//! no scenario names before debrief, and in dungeons & dragons no scoreboard at all.

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::api::{App, HttpError};
use super::hub::knows_plots;
use super::writer::Caller;
use crate::model::gameday::score::{Board, Tally};
use crate::model::gameday::{GameDay, GameDayId};
use crate::model::{Event, Fact, UserRole};
use crate::protocol::GamedayView;

/// How often a running game day's board is judged again without news (clocks come due).
const TICK: Duration = Duration::from_secs(5);
const READ_PAGE: usize = 1000;

/// The newest game day's board, judged anew on every event that can change it.
pub struct Scoreboard {
    /// The full board, for those who know the plot.
    board: watch::Sender<Option<Arc<Board>>>,
    key: ring::hmac::Key,
    public_url: Mutex<String>,
}

impl Scoreboard {
    /// `secret`: the share key (see [`share_key`]).
    pub fn new(secret: &[u8], public_url: &str) -> Scoreboard {
        Scoreboard {
            board: watch::Sender::new(None),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            public_url: Mutex::new(public_url.trim_end_matches('/').to_string()),
        }
    }

    /// The read-only share token of a game day's scoreboard.
    pub fn token(&self, gameday: GameDayId) -> String {
        to_hex(ring::hmac::sign(&self.key, format!("scoreboard {gameday}").as_bytes()).as_ref())
    }

    /// Whether `token` opens `gameday`'s scoreboard (constant time).
    fn opens(&self, gameday: GameDayId, token: &str) -> bool {
        let Some(bytes) = hex(token) else { return false };
        ring::hmac::verify(&self.key, format!("scoreboard {gameday}").as_bytes(), &bytes).is_ok()
    }

    pub fn share_url(&self, gameday: GameDayId) -> String {
        let base = self.public_url.lock().unwrap_or_else(|p| p.into_inner()).clone();
        format!("{base}/gameday/scoreboard?token={}", self.token(gameday))
    }

    pub fn current(&self) -> Option<Arc<Board>> {
        self.board.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Board>>> {
        self.board.subscribe()
    }

    fn publish(&self, board: Option<Board>) {
        self.board.send_if_modified(|current| {
            let same = match (current.as_deref(), board.as_ref()) {
                (Some(a), Some(b)) => a == b,
                (None, None) => true,
                _ => false,
            };
            if !same {
                *current = board.map(Arc::new);
            }
            !same
        });
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The share key: kept in the data dir (made on first start, readable by the server's user
/// only), so share links survive restarts. Servers sharing a store then agree on one through
/// `shared`, which is offered this server's key as hex and answers the key the store kept (the
/// first offered), so a share link opens on any of them; a server alone keeps its own.
pub fn share_key(
    data_dir: &Path,
    shared: impl FnOnce(&str) -> color_eyre::Result<String>,
) -> color_eyre::Result<Vec<u8>> {
    use color_eyre::eyre::{eyre, WrapErr};
    let path = data_dir.join("share.key");
    let own = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => bytes,
        _ => {
            let mut bytes = vec![0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| eyre!("no randomness for the share key"))?;
            write_private(&path, &bytes).wrap_err_with(|| format!("writing {}", path.display()))?;
            bytes
        }
    };
    let agreed = shared(&to_hex(&own))?;
    hex(&agreed)
        .filter(|k| k.len() >= 32)
        .ok_or_else(|| eyre!("the store's shared share key is not 32 or more bytes of hex"))
}

/// Follows the log: a tally of the newest game day, its board published on every change.
pub fn spawn(app: App) {
    tokio::spawn(async move {
        let mut live = app.hub().subscribe();
        let mut closing = app.closing();
        let mut tally = rebuild(&app).await;
        judge(&app, tally.as_ref());
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                r = live.recv() => match r {
                    Ok(p) => {
                        follow(&mut tally, &p.event);
                        // Take whatever else is queued before judging once.
                        while let Ok(p) = live.try_recv() {
                            follow(&mut tally, &p.event);
                        }
                        judge(&app, tally.as_ref());
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        live = app.hub().subscribe();
                        tally = rebuild(&app).await;
                        judge(&app, tally.as_ref());
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if tally.as_ref().is_some_and(|_| app.hub().state().gamedays.running().is_some()) {
                        judge(&app, tally.as_ref());
                    }
                }
                _ = closing.changed() => return,
            }
        }
    });
}

fn follow(tally: &mut Option<Tally>, event: &Event) {
    if let Fact::GamedayCreated { gameday, .. } = &event.fact {
        *tally = Some(Tally::new(*gameday));
    }
    if let Some(t) = tally.as_mut().filter(|t| !t.is_finished()) {
        t.apply(event);
    }
}

fn judge(app: &App, tally: Option<&Tally>) {
    app.scoreboard().publish(tally.and_then(|t| t.board(Utc::now())));
}

/// The newest game day's tally, folded from the log (from its creation to the head).
async fn rebuild(app: &App) -> Option<Tally> {
    let (from, head, id) = {
        let state = app.hub().state();
        let g = state.gamedays.latest()?;
        (g.created_seq, state.seq, g.id)
    };
    let mut tally = Tally::new(id);
    let mut next = from;
    while next <= head {
        let page = match app.event_bodies(next, head, READ_PAGE).await {
            Ok(page) if !page.is_empty() => page,
            Ok(_) => break,
            Err(e) => {
                tracing::error!(gameday = %id, "reading the log for {id}'s scoreboard: {}", e.detail());
                break;
            }
        };
        if tally.is_finished() {
            break;
        }
        for row in page {
            if tally.is_finished() {
                break;
            }
            next = row.seq + 1;
            match serde_json::from_str::<Event>(&row.body) {
                Ok(e) => tally.apply(&e),
                Err(e) => {
                    tracing::warn!(gameday = %id, seq = row.seq, "{id}'s scoreboard skips event {}: {e}", row.seq)
                }
            }
        }
    }
    Some(tally)
}

/// What `caller` may see of `board` now; `Err(why)` when nothing.
fn board_for(board: &Board, g: &GameDay, role: Option<UserRole>) -> Result<Board, String> {
    if role.is_some_and(knows_plots) || !g.stage.hides() {
        return Ok(board.clone());
    }
    if g.style.board_for_all() {
        return Ok(board.clone().concealed());
    }
    Err(format!("{} is played {}: its scoreboard is shown at debrief", g.id, g.style))
}

/// `GET /api/v1/gameday`: the newest game day and its board, as the caller may see them.
pub async fn get(State(app): State<App>, caller: Caller) -> Json<GamedayView> {
    let mut gameday = app.hub().state().gamedays.latest().cloned();
    let board = app.scoreboard().current();
    let mut view = GamedayView { gameday: None, board: None, board_hidden: None, share_url: None };
    if let Some(g) = &mut gameday {
        if !knows_plots(caller.role) && g.stage.hides() {
            g.plans = Vec::new();
        }
        match board.as_deref().filter(|b| b.gameday == g.id).map(|b| board_for(b, g, Some(caller.role))) {
            Some(Ok(b)) => view.board = Some(b),
            Some(Err(why)) => view.board_hidden = Some(why),
            None => {}
        }
        if knows_plots(caller.role) {
            view.share_url = Some(app.scoreboard().share_url(g.id));
        }
    }
    view.gameday = gameday;
    Json(view)
}

/// The game day a share token opens: the newest one, if the token is its.
fn shared(app: &App, query: Option<&str>) -> Result<GameDay, HttpError> {
    let token = query.unwrap_or("").split('&').find_map(|p| p.strip_prefix("token=")).ok_or_else(|| {
        HttpError::new(StatusCode::UNAUTHORIZED, "unauthorized", "add the share link's `?token=`")
    })?;
    let g = app.hub().state().gamedays.latest().cloned();
    g.filter(|g| app.scoreboard().opens(g.id, token)).ok_or_else(|| {
        HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this share token opens no current game day's scoreboard (ask the game master for the link)",
        )
    })
}

/// What the big screen shows: a hero's board (no scenario names before debrief).
#[derive(Serialize)]
struct Shared {
    #[serde(skip_serializing_if = "Option::is_none")]
    board: Option<Board>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<String>,
}

fn shared_board(app: &App, g: &GameDay) -> Shared {
    match app.scoreboard().current().as_deref().filter(|b| b.gameday == g.id) {
        None => Shared { board: None, hidden: Some(format!("{} has no scoreboard yet", g.id)) },
        Some(b) => match board_for(b, g, None) {
            Ok(b) => Shared { board: Some(b), hidden: None },
            Err(why) => Shared { board: None, hidden: Some(why) },
        },
    }
}

/// `GET /gameday/scoreboard?token=…`: the big-screen page (it reads the stream below).
pub async fn page(State(app): State<App>, RawQuery(q): RawQuery) -> Result<Response, HttpError> {
    shared(&app, q.as_deref())?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("referrer-policy"), "no-referrer"),
        ],
        Html(PAGE),
    )
        .into_response())
}

/// `GET /gameday/scoreboard.json?token=…`
pub async fn json(State(app): State<App>, RawQuery(q): RawQuery) -> Result<Response, HttpError> {
    let g = shared(&app, q.as_deref())?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(shared_board(&app, &g))).into_response())
}

/// `GET /gameday/scoreboard/stream?token=…`: Server-Sent Events, one `board` event now and
/// one on every change, a heartbeat otherwise; ends when the server stops.
pub async fn stream(State(app): State<App>, RawQuery(q): RawQuery) -> Result<Response, HttpError> {
    let g = shared(&app, q.as_deref())?;
    let id = g.id;
    // The link is shown to a room, and anyone who saw it could open streams with it: they
    // count against the link as a user's count against the user ([limits] streams_per_user),
    // so the link cannot fill the connection cap. The name cannot be a user's (a control
    // character), and the slot lives as long as the body.
    let slot = app.hub().open_stream(&format!("\u{0}share link of {id}")).map_err(|cap| {
        HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!("the share link of {id} already has {cap} scoreboards open ([limits] streams_per_user)"),
        )
    })?;
    let changes = app.scoreboard().subscribe();
    let closing = app.closing();
    let heartbeat = app.inner.heartbeat;
    let state = (app, changes, closing, true, id, slot);
    let body = futures_util::stream::unfold(
        state,
        move |(app, mut changes, mut closing, first, id, slot)| async move {
            if !first {
                tokio::select! {
                    r = changes.changed() => { r.ok()?; }
                    _ = closing.changed() => return None,
                    () = tokio::time::sleep(heartbeat) => {
                        return Some((Ok::<_, Infallible>(Bytes::from_static(b": heartbeat\n\n")), (app, changes, closing, false, id, slot)));
                    }
                }
            }
            changes.borrow_and_update();
            // A newer game day closes the old link (as it refuses new connections with it).
            let g = app.hub().state().gamedays.latest().filter(|g| g.id == id).cloned()?;
            let json = serde_json::to_string(&shared_board(&app, &g)).unwrap_or_default();
            Some((
                Ok(Bytes::from(format!("event: board\ndata: {json}\n\n"))),
                (app, changes, closing, false, id, slot),
            ))
        },
    );
    Ok(super::stream::sse_response(Body::from_stream(body)))
}

const PAGE: &str = include_str!("../../assets/scoreboard.html");

/// Posts each informed kick-off on `[gameday] kickoff_channel` (checked at start to take
/// drills), recording every attempt like the notifier does; retried with its backoff.
pub fn announce(app: App, channels: Vec<crate::config::ChannelConfig>) {
    let hub = app.hub().clone();
    let announcer = Announcer {
        app,
        channels: channels.into_iter().map(|c| (c.name.clone(), c)).collect(),
        http: super::notify::http_client(),
    };
    super::reactor::spawn(hub, announcer);
}

struct Announcer {
    app: App,
    channels: std::collections::HashMap<String, crate::config::ChannelConfig>,
    http: reqwest::Client,
}

struct Post {
    gameday: GameDayId,
    plan: u32,
    channel: String,
    text: String,
}

impl super::reactor::Reactor for Announcer {
    type Key = (GameDayId, u32);
    type Job = Post;

    fn observe(&self, event: &Event) -> Option<((GameDayId, u32), Post)> {
        let Fact::ScenarioKickedOff { gameday, kickoff } = &event.fact else { return None };
        let channel = kickoff.channel.clone()?;
        Some((
            (*gameday, kickoff.plan),
            Post {
                gameday: *gameday,
                plan: kickoff.plan,
                channel,
                text: kickoff.message(&gameday.to_string()),
            },
        ))
    }

    fn pending(&self, state: &crate::model::State) -> Vec<((GameDayId, u32), Post)> {
        state
            .gamedays
            .0
            .values()
            .flat_map(|g| g.kickoffs.iter().map(move |k| (g.id, k)))
            .filter(|(_, k)| !k.settled)
            .filter_map(|(g, k)| {
                let channel = k.channel.clone()?;
                Some((
                    (g, k.plan),
                    Post { gameday: g, plan: k.plan, channel, text: k.message(&g.to_string()) },
                ))
            })
            .collect()
    }

    async fn work(self: Arc<Self>, post: Post) {
        let backoff = super::notify::BACKOFF;
        let base = super::reactor::name_id(&["kickoff", &post.gameday.to_string(), &post.plan.to_string()]);
        let mut attempt = 0;
        loop {
            let result = match self.channels.get(&post.channel) {
                Some(channel) => super::notify::send_on(&self.http, channel, &post.text).await,
                None => Err(format!("channel `{}` is not configured on this server any more", post.channel)),
            };
            attempt += 1;
            let ok = result.is_ok();
            let last = !ok && backoff.is_last(attempt);
            let detail = result.unwrap_or_else(|e| e);
            let id = super::reactor::step_id(base, attempt, 0x6b1c);
            let intent = crate::model::Intent::RecordKickoff {
                gameday: post.gameday,
                plan: post.plan,
                ok,
                detail: detail.clone(),
                last,
            };
            match super::reactor::issue(&self.app, crate::protocol::Command { id, intent }).await {
                super::reactor::Issued::Recorded(_) | super::reactor::Issued::AlreadyRecorded => {}
                super::reactor::Issued::Settled(_) => return,
                super::reactor::Issued::Failed(e) => {
                    tracing::warn!(
                        gameday = %post.gameday,
                        channel = %post.channel,
                        "{}'s kick-off of #{} on `{}` ({detail}) was not recorded: {e}",
                        post.gameday,
                        post.plan,
                        post.channel
                    );
                    return;
                }
            }
            if ok || last {
                return;
            }
            backoff.wait(attempt).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_server_keeps_its_own_key_and_a_shared_one_uses_the_stores() {
        let dir = tempfile::tempdir().unwrap();
        let alone = |own: &str| Ok(own.to_string());
        let first = share_key(dir.path(), alone).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(share_key(dir.path(), alone).unwrap(), first, "kept across restarts");
        let kept = "5a".repeat(32);
        assert_eq!(share_key(dir.path(), |_| Ok(kept.clone())).unwrap(), vec![0x5a; 32]);
        // A store holding something that is no key stops the start, naming it.
        for bad in ["not hex", "ab"] {
            let err = share_key(dir.path(), |_| Ok(bad.to_string())).unwrap_err();
            assert!(err.to_string().contains("shared share key"), "{err}");
        }
    }
}
