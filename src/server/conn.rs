//! Connections: the accept loop and each connection's life — deadlines for headers and idle
//! keep-alive, a cap that sheds idle anonymous peers first, streams moved to the fan-out runtime
//! and written by their connection once hyper has sent the head ([`Takeover`]), and the drain
//! of a stopping server (every request answered, none dropped unanswered).

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode, Version};
use axum::response::IntoResponse;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt;

use super::api::{App, HttpError};

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than the client's own pool timeout (30 s): the client closes an idle connection
/// first, so it never sends a command on one the server is closing.
pub const AUTH_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Answered even past the cap, on connections admitted as overflow.
const PUBLIC: [&str; 3] = ["/healthz", "/status", "/status.json"];
const STREAM_PATH: &str = "/api/v1/stream";
/// Responses that last until the server stops: they are not waited for as requests in flight
/// (they end with a reconnect hint instead), and a stopping server opens no new ones.
const ENDLESS: [&str; 2] = [STREAM_PATH, "/gameday/scoreboard/stream"];
/// What a stopping server refuses with 503 `shutting_down`: anything that would write, or hold a
/// connection open. Reads are still answered.
const REFUSED_WHILE_DRAINING: [&str; 4] =
    ["/api/v1/commands", "/api/v1/chaos/halt", STREAM_PATH, "/gameday/scoreboard/stream"];
/// An event stream whose peer has taken nothing for this long is closed: it holds a socket, a
/// descriptor and up to [`WRITE_BUFFER`] for nobody. Longer than the client's own silence
/// limit (25 s, heartbeats every 10 s): a client that reads never comes near it.
pub const STREAM_STALL: Duration = Duration::from_secs(60);
const STALL_CHECK: Duration = Duration::from_secs(10);
/// Most response bytes hyper buffers for a connection before it waits for the socket (its
/// default is ~400 KB): with 10,000 streams, what a stalled one can hold is 10,000 times this.
const WRITE_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served in full at once.
    pub max_connections: usize,
    /// Connections admitted past the cap when nothing idle can be shed: they get the public
    /// probes and a 503 for anything else, then close.
    pub overflow: usize,
    /// From accept to a complete first request head.
    pub header_timeout: Duration,
    /// Between requests, for a connection that never showed a valid token.
    pub idle_timeout: Duration,
    /// Between requests, for an authenticated connection.
    pub auth_idle_timeout: Duration,
}

impl Limits {
    /// Derives the cap from the open-file limit, keeping headroom for SQLite (the writer, the
    /// snapshot thread and pooled readers), probes, the notifier and overflow connections.
    pub fn from_fd_limit(fds: u64, header_timeout: Duration, idle_timeout: Duration) -> Limits {
        let fds = usize::try_from(fds).unwrap_or(usize::MAX).max(128);
        let reserve = (fds / 10).clamp(64, 4096);
        Limits {
            max_connections: fds - reserve,
            overflow: reserve / 4,
            header_timeout,
            idle_timeout,
            auth_idle_timeout: AUTH_IDLE_TIMEOUT,
        }
    }
}

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    // Linux refuses an infinite soft limit for files; 2^20 is its usual ceiling (nr_open).
    let want = if lim.rlim_max == libc::RLIM_INFINITY { 1 << 20 } else { lim.rlim_max };
    if lim.rlim_cur < want {
        let raised = libc::rlimit { rlim_cur: want, rlim_max: lim.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = want;
        }
    }
    // rlim_t is not u64 on every Unix target.
    #[allow(clippy::unnecessary_cast)]
    Some(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

/// How much less CPU the fan-out threads claim than request handling and the writer: at nice
/// 5 the kernel gives a runnable request thread three times their share, so with both cores
/// busy writing to 10,000 sockets an ack still gets a core at once.
const FANOUT_NICE: libc::c_int = 5;

/// Lowers the calling thread's scheduling priority to [`FANOUT_NICE`] (Linux sets nice per
/// thread). Best effort: where it is refused, fan-out simply competes as an equal.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, FANOUT_NICE);
    }
}

/// Shed order: anonymous idle connections (class 0) before authenticated ones (class 1),
/// longest idle first within a class.
type IdleKey = (u8, Instant, u64);

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Admitted in full, counted against the cap.
    open: usize,
    overflow: usize,
    idle: BTreeSet<IdleKey>,
    slots: HashMap<u64, Slot>,
}

struct Slot {
    /// Requests whose head has arrived and whose response is not yet fully written.
    busy: usize,
    served: bool,
    authenticated: bool,
    overflow: bool,
    /// Accepted, or last request finished.
    since: Instant,
    shed: Option<oneshot::Sender<()>>,
    /// Serving an event stream (moved to the fan-out runtime).
    stream: bool,
    /// See [`ConnHandle::stalled`].
    stalled: Arc<AtomicU64>,
    /// Of `busy`: requests that end by themselves (not [`ENDLESS`]), which a stopping server
    /// waits for.
    calls: usize,
    /// Of `busy`: responses in [`ENDLESS`].
    streams: usize,
    /// The server is stopping and this connection closes once its response is out (it said
    /// `Connection: close`, or its stream was told to end): a stopping server waits for it,
    /// so nothing it sent is cut by the exit.
    closing: bool,
}

impl Slot {
    fn idle_key(&self, id: u64) -> Option<IdleKey> {
        (self.busy == 0 && !self.overflow).then_some((u8::from(self.authenticated), self.since, id))
    }
}

/// Every open connection, for the cap, shedding and the graceful stop.
pub struct Registry {
    limits: Limits,
    /// Stall times are milliseconds since this, plus one (zero means "not stalled").
    epoch: Instant,
    table: Mutex<Table>,
    /// The server is stopping: `/healthz` says so, writes and new streams are refused, and
    /// every answer closes its connection (see [`Registry::drain`]).
    draining: AtomicBool,
    /// Signalled, while draining, when a request finishes or a connection closes.
    settled: Notify,
    /// Set when streams must end: their connections close once the last frame is out.
    ending: watch::Sender<bool>,
    /// Requests refused `503 too_many_connections`, since start.
    refused: AtomicU64,
    /// When the last warning about refusals was logged (ms since `epoch`, plus one; 0: never).
    warned: AtomicU64,
}

impl Registry {
    pub fn new(limits: Limits) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            table: Mutex::default(),
            draining: AtomicBool::new(false),
            settled: Notify::new(),
            ending: watch::Sender::new(false),
            refused: AtomicU64::new(0),
            warned: AtomicU64::new(0),
        })
    }

    /// The cap, as configured or derived from the open-file limit.
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections
    }

    /// Requests refused `503 too_many_connections` since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a request refused at the cap, and says so in the log at most every 10 s: an
    /// operator must see that users are being turned away, and why.
    fn refuse(&self) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.stamp(Instant::now());
        let last = self.warned.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= 10_000;
        if due && self.warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let (open, overflow) = self.open();
            tracing::warn!(
                refused,
                open,
                overflow,
                "at the connection cap of {}: refusing requests with 503 too_many_connections ({refused} so \
                 far); every slot is busy with streams or requests in flight. Raise [limits] max_connections \
                 (and the open-file limit), or look for one peer holding many connections",
                self.limits.max_connections
            );
        }
    }

    /// Starts the drain of a stopping server; returns the requests in flight now, which finish.
    /// From here `/healthz` answers 503 (a load balancer stops sending), commands and new
    /// streams get 503 `shutting_down` with `Retry-After`, and every response produced from
    /// now on carries `Connection: close`. Idle keep-alive connections are left open on purpose:
    /// HTTP/1.1 has no way to close one without racing a request the client may be sending on
    /// it, so each is closed by its client after its 503, or by the process's exit.
    pub fn drain(&self) -> usize {
        let t = self.lock();
        // Under the table's lock: a request is either counted here or begun after, and then
        // sees the flag when it is routed.
        self.draining.store(true, Ordering::SeqCst);
        t.slots.values().map(|s| s.calls).sum()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Tells every open stream's connection to close once its last frame is out; how many.
    /// (The streams' bodies are ended by `App::close_streams`.)
    pub fn end_streams(&self) -> usize {
        let mut t = self.lock();
        let mut n = 0;
        for s in t.slots.values_mut().filter(|s| s.streams > 0) {
            s.closing = true;
            n += 1;
        }
        drop(t);
        self.ending.send_replace(true);
        n
    }

    /// Requests in flight and connections still closing (see [`Registry::settled`]).
    pub fn unsettled(&self) -> (usize, usize) {
        let t = self.lock();
        let calls = t.slots.values().map(|s| s.calls).sum();
        let closing = t.slots.values().filter(|s| s.closing).count();
        (calls, closing)
    }

    /// Waits until no request is in flight and every connection told to close has closed (so
    /// its answer is out of this process). Answers to requests that arrive meanwhile on idle
    /// connections are waited for too.
    pub async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.unsettled() == (0, 0) {
                return;
            }
            notified.await;
        }
    }

    fn note_settling(&self) {
        if self.is_draining() {
            self.settled.notify_waiters();
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table holds counts only; a panic mid-update cannot make it unsafe to read.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now: (admitted in full, overflow).
    pub fn open(&self) -> (usize, usize) {
        let t = self.lock();
        (t.open, t.overflow)
    }

    /// Admits a new connection: in full under the cap or after shedding an idle one, else as
    /// overflow while there is room; `None` means close it at once.
    fn admit(self: &Arc<Self>) -> Option<(Arc<ConnHandle>, oneshot::Receiver<()>, oneshot::Receiver<()>)> {
        let mut t = self.lock();
        let overflow = if t.open < self.limits.max_connections || shed_oldest(&mut t) {
            false
        } else if t.overflow < self.limits.overflow {
            true
        } else {
            return None;
        };
        let id = t.next_id;
        t.next_id += 1;
        if overflow {
            t.overflow += 1;
        } else {
            t.open += 1;
        }
        let (shed, shed_rx) = oneshot::channel();
        let stalled = Arc::new(AtomicU64::new(0));
        let slot = Slot {
            busy: 0,
            served: false,
            authenticated: false,
            overflow,
            since: Instant::now(),
            shed: Some(shed),
            stream: false,
            stalled: stalled.clone(),
            calls: 0,
            streams: 0,
            closing: false,
        };
        if let Some(key) = slot.idle_key(id) {
            t.idle.insert(key);
        }
        t.slots.insert(id, slot);
        let (migrate, migrate_rx) = oneshot::channel();
        let handle = Arc::new(ConnHandle {
            id,
            overflow,
            registry: self.clone(),
            changed: Notify::new(),
            migrate: Mutex::new(Some(migrate)),
            stalled,
        });
        Some((handle, shed_rx, migrate_rx))
    }

    /// Closes the connection idle longest (anonymous first); false when none is idle.
    pub fn shed_one(&self) -> bool {
        shed_oldest(&mut self.lock())
    }

    fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Closes every event stream whose peer has taken nothing for [`STREAM_STALL`] as of
    /// `now`; how many.
    fn shed_stalled(&self, now: Instant) -> usize {
        let mut t = self.lock();
        let limit =
            self.stamp(now).saturating_sub(u64::try_from(STREAM_STALL.as_millis()).unwrap_or(u64::MAX));
        let stalled: Vec<u64> = t
            .slots
            .iter()
            .filter(|(_, s)| {
                s.stream && matches!(s.stalled.load(Ordering::Relaxed), at if at != 0 && at < limit)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &stalled {
            shed(&mut t, *id);
        }
        stalled.len()
    }

    fn remove(&self, id: u64) {
        let mut t = self.lock();
        if let Some(slot) = t.slots.remove(&id) {
            if let Some(key) = slot.idle_key(id) {
                t.idle.remove(&key);
            }
            if slot.overflow {
                t.overflow -= 1;
            } else {
                t.open -= 1;
            }
        }
        drop(t);
        self.note_settling();
    }
}

fn shed_oldest(t: &mut Table) -> bool {
    let Some((_, _, id)) = t.idle.pop_first() else { return false };
    shed(t, id);
    true
}

/// Tells connection `id` to close and takes it off the count.
fn shed(t: &mut Table, id: u64) {
    if let Some(slot) = t.slots.remove(&id) {
        if let Some(key) = slot.idle_key(id) {
            t.idle.remove(&key);
        }
        // The connection may be ending by itself already; either way it is gone from the count.
        if let Some(shed) = slot.shed {
            let _ = shed.send(());
        }
        if slot.overflow {
            t.overflow -= 1;
        } else {
            t.open -= 1;
        }
    }
}

/// Every [`STALL_CHECK`], closes the event streams whose peers stopped reading.
async fn sweep_stalled(registry: Arc<Registry>) {
    let mut every = tokio::time::interval(STALL_CHECK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        registry.shed_stalled(Instant::now());
    }
}

/// One connection's view of its slot; dropping the last reference (when the connection's
/// task ends, however it ends) frees the slot.
struct ConnHandle {
    id: u64,
    overflow: bool,
    registry: Arc<Registry>,
    /// Wakes the connection's task to recompute its deadline.
    changed: Notify,
    migrate: Mutex<Option<oneshot::Sender<()>>>,
    /// When the response body last handed hyper a chunk that hyper has not yet asked past
    /// (its write buffer is full and the peer is not taking it), as [`Registry::stamp`].
    stalled: Arc<AtomicU64>,
}

impl ConnHandle {
    fn update(&self, f: impl FnOnce(&mut Slot)) {
        let mut t = self.registry.lock();
        let Some(slot) = t.slots.get_mut(&self.id) else { return };
        let before = slot.idle_key(self.id);
        f(slot);
        let after = slot.idle_key(self.id);
        if before != after {
            if let Some(k) = before {
                t.idle.remove(&k);
            }
            if let Some(k) = after {
                t.idle.insert(k);
            }
        }
    }

    fn begin(self: &Arc<Self>, authenticated: bool, endless: bool) -> Busy {
        self.update(|s| {
            s.busy += 1;
            s.served = true;
            s.authenticated |= authenticated;
            if endless {
                s.streams += 1;
            } else {
                s.calls += 1;
            }
        });
        Busy { handle: self.clone(), endless }
    }

    /// While draining: this connection's answer says `Connection: close`, and the stop waits
    /// for it to be out.
    fn close_after_answer(&self) {
        self.update(|s| s.closing = true);
    }

    fn is_closing(&self) -> bool {
        self.registry.lock().slots.get(&self.id).is_some_and(|s| s.closing)
    }

    /// When the connection must close unless a request arrives; `None` while one is in flight.
    fn deadline(&self) -> Option<Instant> {
        let limits = self.registry.limits;
        let t = self.registry.lock();
        // Shed: its task is being told to close anyway.
        let Some(s) = t.slots.get(&self.id) else { return Some(Instant::now()) };
        (s.busy == 0).then(|| {
            s.since
                + if !s.served {
                    limits.header_timeout
                } else if s.authenticated {
                    limits.auth_idle_timeout
                } else {
                    limits.idle_timeout
                }
        })
    }

    fn migrate(&self) {
        self.update(|s| s.stream = true);
        if let Some(tx) = self.migrate.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // The connection's task may have ended already: nothing left to move.
            let _ = tx.send(());
        }
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// Marks a request in flight until its response body is dropped (fully written or abandoned).
struct Busy {
    handle: Arc<ConnHandle>,
    endless: bool,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let endless = self.endless;
        self.handle.update(|s| {
            s.busy = s.busy.saturating_sub(1);
            if endless {
                s.streams = s.streams.saturating_sub(1);
            } else {
                s.calls = s.calls.saturating_sub(1);
            }
            s.since = Instant::now();
        });
        self.handle.changed.notify_one();
        self.handle.registry.note_settling();
    }
}

/// A response body that keeps its connection counted busy while it is being sent (unless the
/// connection took the stream over: then the [`Busy`] went with it).
pub struct Tracked {
    inner: Body,
    busy: Option<Busy>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let Some(busy) = &this.busy else { return Pin::new(&mut this.inner).poll_frame(cx) };
        let handle = &busy.handle;
        // Asked for more: whatever was handed before is written or buffered.
        handle.stalled.store(0, Ordering::Relaxed);
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            handle.stalled.store(handle.registry.stamp(Instant::now()), Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// From a request's head to the last byte of its body. A body that has not all arrived by then
/// fails, the request is answered 408 and its connection closes: without it, a peer (any
/// token holder: bodies are read before the role check) could hold a busy slot for ever, and
/// enough of them fill the cap for everyone. Shorter than a stop's drain, so a stalled body
/// never holds a stop up. 64 KiB in 5 s is 13 KB/s, slower than any real client.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a body that missed [`BODY_TIMEOUT`] fails with; the command handler finds it in the
/// rejection's sources ([`BodyTimedOut::in_chain`]) and answers 408.
#[derive(Debug)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body did not all arrive within {} s", BODY_TIMEOUT.as_secs())
    }
}

impl std::error::Error for BodyTimedOut {}

impl BodyTimedOut {
    /// Whether `e` or any error it was caused by is a missed body deadline.
    pub fn in_chain(e: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(e), |e| e.source()).any(|e| e.is::<BodyTimedOut>())
    }
}

/// A request body that fails once [`BODY_TIMEOUT`] has passed since the head arrived. The
/// timer is made only if the body is not already there (most are, whole, with the head).
pub struct Deadlined {
    inner: Incoming,
    due: Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadlined {
    pub fn new(inner: Incoming, due: Instant) -> Deadlined {
        Deadlined { inner, due, timer: None }
    }
}

impl HttpBody for Deadlined {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(this.due)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a request carries a token of a configured user (the handlers still check it).
fn authenticated(app: &App, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| app.inner.users.contains_key(t.trim()))
}

/// The runtime that drives event streams, apart from request handling: a command's ack never
/// waits in a run queue behind thousands of stream wake-ups.
pub struct Fanout(Option<tokio::runtime::Runtime>);

impl Fanout {
    pub fn start() -> std::io::Result<Fanout> {
        // Every core, at a lower priority: writing to sockets is most of the fan-out's cost
        // (one write per subscriber per wake-up), and the cores requests leave idle are its
        // to use, while a request that wakes takes a core from it at once.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .on_thread_start(lower_priority)
            .thread_name("warroom-fanout")
            .enable_all()
            .build()?;
        Ok(Fanout(Some(rt)))
    }

    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        // Dropping a runtime inside async code would block (and panic): let it wind down apart.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Accepts until `stopped` fires (or its sender is dropped), then takes the connections the
/// kernel has already queued and closes the listener: from then on a connect is refused. The
/// connections it leaves live on (see [`Registry::drain`]).
pub async fn serve(
    listener: TcpListener,
    app: App,
    router: axum::Router,
    registry: Arc<Registry>,
    fanout: tokio::runtime::Handle,
    mut stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let mut warned: Option<Instant> = None;
    let sweeper = tokio::spawn(sweep_stalled(registry.clone()));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stopped => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) if is_peer_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (or worse): free one by shedding an idle connection, and
                // never spin on a failing accept.
                if warned.is_none_or(|w| w.elapsed() > Duration::from_secs(60)) {
                    tracing::error!("accepting connections: {e} (shedding idle connections)");
                    warned = Some(Instant::now());
                }
                if !registry.shed_one() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
        };
        admit(tcp, &app, &router, &registry, &fanout);
    }
    // A connection the kernel completed but nobody accepted is reset when the listener closes,
    // though its client may have sent a request already: take them all, and answer them as a
    // stopping server does (Registry::drain).
    while let Some(Ok((tcp, _))) = futures_util::FutureExt::now_or_never(listener.accept()) {
        admit(tcp, &app, &router, &registry, &fanout);
    }
    drop(listener);
    sweeper.abort();
    Ok(())
}

fn admit(
    tcp: TcpStream,
    app: &App,
    router: &axum::Router,
    registry: &Arc<Registry>,
    fanout: &tokio::runtime::Handle,
) {
    if let Some((handle, shed, migrate)) = registry.admit() {
        let ending = registry.ending.subscribe();
        spawn_connection(tcp, app, router, handle, shed, migrate, ending, fanout);
    }
}

/// What a stopping server answers at once instead of routing (`None`: route it). `/healthz`
/// fails so a load balancer stops sending; a write or a new stream is refused with a hint to
/// come back, since it would not be finished or would hold the stop up.
fn refuse_while_draining(app: &App, path: &str) -> Option<axum::response::Response> {
    let retry = super::stream::RECONNECT_AFTER.as_secs().max(1);
    if path == "/healthz" {
        let body = serde_json::json!({
            "status": crate::protocol::SHUTTING_DOWN,
            "detail": "the server is shutting down",
            "seq": app.hub().state().seq,
        });
        return Some((StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response());
    }
    if !REFUSED_WHILE_DRAINING.contains(&path) {
        return None;
    }
    let refusal = HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        crate::protocol::SHUTTING_DOWN,
        format!(
            "the server is shutting down: it finishes what it already took and takes nothing new; \
             retry after {retry} s (a restarted server has everything acknowledged)"
        ),
    );
    let mut resp = refusal.into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry));
    Some(resp)
}

/// Errors that concern one peer only (it reset before we accepted it).
fn is_peer_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted)
}

#[allow(clippy::too_many_arguments)]
fn spawn_connection(
    tcp: TcpStream,
    app: &App,
    router: &axum::Router,
    handle: Arc<ConnHandle>,
    shed: oneshot::Receiver<()>,
    migrate: oneshot::Receiver<()>,
    ending: watch::Receiver<bool>,
    fanout: &tokio::runtime::Handle,
) {
    // Small SSE frames must leave at once: with Nagle's algorithm a frame waits for the ACK of
    // the previous one, and the peer delays ACKs by up to 40 ms. A socket that refuses the
    // option is about to fail anyway, and then its connection ends by itself.
    let _ = tcp.set_nodelay(true);
    let takeover = Arc::new(Takeover::default());
    let service = {
        let (app, router, handle, takeover) = (app.clone(), router.clone(), handle.clone(), takeover.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let (app, router, handle, takeover) =
                (app.clone(), router.clone(), handle.clone(), takeover.clone());
            async move {
                let path = req.uri().path();
                let endless = ENDLESS.contains(&path);
                let busy = handle.begin(authenticated(&app, req.headers()), endless);
                if handle.registry.is_draining() {
                    if let Some(resp) = refuse_while_draining(&app, path) {
                        return Ok::<_, Infallible>(
                            closing(&handle, resp).map(|inner| Tracked { inner, busy: Some(busy) }),
                        );
                    }
                }
                if handle.overflow && !PUBLIC.contains(&path) {
                    handle.registry.refuse();
                    let max = handle.registry.limits.max_connections;
                    let refusal = HttpError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too_many_connections",
                        format!(
                            "the server holds its limit of {max} connections ([limits] max_connections); \
                             only /healthz and /status answer now: retry shortly"
                        ),
                    );
                    let mut resp = refusal.into_response();
                    resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                    return Ok(resp.map(|inner| Tracked { inner, busy: Some(busy) }));
                }
                let stream = path == STREAM_PATH;
                // hyper answers these with a chunked body, which the connection can go on writing.
                let chunked = req.method() == Method::GET && req.version() == Version::HTTP_11;
                let due = Instant::now() + BODY_TIMEOUT;
                let mut resp = match router.oneshot(req.map(|b| Body::new(Deadlined::new(b, due)))).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                if stream && resp.status().is_success() {
                    handle.migrate();
                    let handoff = resp.extensions_mut().remove::<Handoff>();
                    if let Some(body) = handoff.filter(|_| chunked).and_then(|h| h.take()) {
                        // hyper sends the head; this connection sends the rest (see `Takeover`).
                        takeover.arm(body, busy);
                        return Ok(resp.map(|inner| Tracked { inner, busy: None }));
                    }
                }
                // An answer finished while the server stops closes its connection, so the
                // client sends nothing more on it; a stream's connection closes when it ends.
                let resp =
                    if handle.registry.is_draining() && !endless { closing(&handle, resp) } else { resp };
                Ok(resp.map(|inner| Tracked { inner, busy: Some(busy) }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Deadlines are ours (see `ConnHandle::deadline`): hyper's would also cut authenticated
    // keep-alive connections after the header timeout.
    // A client may shut its sending side once its request is out (some proxies do): it still
    // gets its answer. Without this, hyper closed such a connection at once, so a command was
    // written but its ack never sent.
    builder
        .header_read_timeout(None)
        .keep_alive(!handle.overflow)
        .max_buf_size(WRITE_BUFFER)
        .half_close(true);
    let conn = builder.serve_connection(TokioIo::new(Watched { tcp, takeover: takeover.clone() }), service);
    let mut driver = Box::pin(drive(conn, handle, shed, ending, takeover));
    let fanout = fanout.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = &mut driver => {}
            // A stream from here on only wakes for fan-out: it moves, socket and all, so its
            // wake-ups queue on the fan-out runtime instead of ahead of commands.
            Ok(()) = migrate => {
                fanout.spawn(driver);
            }
        }
    });
}

/// Marks `resp` as the connection's last: the client opens a new connection for anything
/// more (refused once the listener is closed), and the stop waits until this one has closed.
fn closing(handle: &ConnHandle, mut resp: axum::response::Response) -> axum::response::Response {
    handle.close_after_answer();
    resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    resp
}

/// Runs one connection until it ends, is shed, misses its deadline, or its stream is told to
/// end while the server stops (then it closes once the last frame is out).
async fn drive<S>(
    mut conn: hyper::server::conn::http1::Connection<TokioIo<Watched>, S>,
    handle: Arc<ConnHandle>,
    mut shed: oneshot::Receiver<()>,
    mut ending: watch::Receiver<bool>,
    takeover: Arc<Takeover>,
) where
    S: hyper::service::HttpService<Incoming, ResBody = Tracked> + Unpin,
{
    let mut stopping = false;
    loop {
        let deadline = handle.deadline();
        tokio::select! {
            // An error here is a peer that went away or spoke garbage: only that peer can tell.
            _ = Pin::new(&mut conn) => return,
            // hyper has sent a stream's head and holds nothing more: the socket is ours.
            () = takeover.flushed.notified() => {
                let Some((body, busy)) = takeover.take() else { continue };
                let tcp = conn.into_parts().io.into_inner().tcp;
                return write_stream(tcp, body, busy, shed).await;
            }
            _ = &mut shed => return,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if handle.deadline().is_some_and(|d| d <= Instant::now()) {
                    return;
                }
            }
            _ = handle.changed.notified() => {}
            // Only a connection serving a stream closes here: an idle one stays open to answer
            // its client's next request with a 503 rather than race it (Registry::drain).
            changed = ending.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() && handle.is_closing() {
                    Pin::new(&mut conn).graceful_shutdown();
                }
            }
        }
    }
}

/// An event stream's body, which its connection may write itself.
pub type SseBody = futures_util::stream::BoxStream<'static, Bytes>;

/// Put in a stream response's extensions by its handler: the stream's body, which hyper sends
/// unless the connection takes it first (see [`Takeover`]). Tests that call the router
/// directly, and requests hyper would not answer chunked, get it from hyper.
#[derive(Clone)]
pub struct Handoff(Arc<Mutex<Option<SseBody>>>);

impl Handoff {
    /// The handle, and a response body reading the same stream while nobody took it.
    pub fn new(body: SseBody) -> (Handoff, Body) {
        let slot = Arc::new(Mutex::new(Some(body)));
        let reading = slot.clone();
        let body = futures_util::stream::poll_fn(move |cx| {
            let mut held = reading.lock().unwrap_or_else(|p| p.into_inner());
            match held.as_mut() {
                Some(stream) => stream.as_mut().poll_next(cx).map(|c| c.map(Ok::<_, Infallible>)),
                // Taken by the connection, which drops hyper once the head is out.
                None => Poll::Pending,
            }
        });
        (Handoff(slot), Body::from_stream(body))
    }

    fn take(&self) -> Option<SseBody> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// How an event stream's connection leaves hyper: hyper writes the response head; once it has
/// flushed with nothing more to send, the connection takes the socket back and writes the
/// stream's chunks itself. An idle hyper connection holds two 8 KiB buffers (its read buffer,
/// kept to notice the peer leaving, and its write buffer); with 10,000 streams that was 160 MB
/// of a 300 MB server, and each write went through hyper's dispatcher and three body layers.
#[derive(Default)]
struct Takeover {
    /// The stream's body and its connection's busy mark, taken from the response.
    armed: Mutex<Option<(SseBody, Busy)>>,
    is_armed: AtomicBool,
    /// Notified when hyper flushed after the body was taken: its buffers are empty and the
    /// body it holds never yields, so they stay empty.
    flushed: Notify,
}

impl Takeover {
    fn arm(&self, body: SseBody, busy: Busy) {
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some((body, busy));
        self.is_armed.store(true, Ordering::Release);
    }

    fn take(&self) -> Option<(SseBody, Busy)> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The socket as hyper sees it: it tells the [`Takeover`] when hyper flushes.
struct Watched {
    tcp: TcpStream,
    takeover: Arc<Takeover>,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        // hyper flushes its device only once its buffer is written out.
        if this.takeover.is_armed.swap(false, Ordering::AcqRel) {
            this.takeover.flushed.notify_one();
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Writes a taken-over stream: each chunk in HTTP/1.1 chunked framing, as hyper would, in one
/// write where the socket takes it; the last chunk when the body ends. Ends when the peer
/// leaves, a write fails, or the connection is shed (a peer that stopped reading: the chunk
/// it holds up is stamped in `stalled`). Dropping `busy` frees the connection's slot.
async fn write_stream(mut tcp: TcpStream, mut body: SseBody, busy: Busy, mut shed: oneshot::Receiver<()>) {
    use futures_util::StreamExt;
    let handle = busy.handle.clone();
    let mut probe = [0u8; 64];
    loop {
        let next = tokio::select! {
            next = body.next() => next,
            _ = &mut shed => return,
            ready = tcp.readable() => {
                // Clients send nothing on a stream: data is ignored, an end or error is the peer
                // leaving.
                match ready.and_then(|()| tcp.try_read(&mut probe)) {
                    Ok(0) => return,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return,
                }
            }
        };
        let Some(chunk) = next else {
            if write_all(&tcp, &[b"0\r\n\r\n"], &mut shed).await {
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut tcp).await;
            }
            return;
        };
        if chunk.is_empty() {
            continue;
        }
        let size = format!("{:x}\r\n", chunk.len());
        handle.stalled.store(handle.registry.stamp(Instant::now()), Ordering::Relaxed);
        if !write_all(&tcp, &[size.as_bytes(), &chunk, b"\r\n"], &mut shed).await {
            return;
        }
        handle.stalled.store(0, Ordering::Relaxed);
    }
}

/// Writes `parts` in order, as few writes as the socket allows; false if the socket failed or
/// the connection was shed meanwhile.
async fn write_all(tcp: &TcpStream, parts: &[&[u8]], shed: &mut oneshot::Receiver<()>) -> bool {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = 0;
    while done < total {
        let mut skip = done;
        let mut slices = Vec::with_capacity(parts.len());
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            slices.push(std::io::IoSlice::new(&part[skip..]));
            skip = 0;
        }
        match tcp.try_write_vectored(&slices) {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::select! {
                    ready = tcp.writable() => if ready.is_err() { return false },
                    _ = &mut *shed => return false,
                }
            }
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_headroom_below_the_open_file_limit() {
        let l = Limits::from_fd_limit(20_000, HEADER_TIMEOUT, IDLE_TIMEOUT);
        assert_eq!((l.max_connections, l.overflow), (18_000, 500));
        let small = Limits::from_fd_limit(256, HEADER_TIMEOUT, IDLE_TIMEOUT);
        assert_eq!((small.max_connections, small.overflow), (192, 16));
        assert!(Limits::from_fd_limit(u64::MAX, HEADER_TIMEOUT, IDLE_TIMEOUT).max_connections > 1 << 20);
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_anonymous_connection_is_shed_before_an_authenticated_one() {
        let mut limits = Limits::from_fd_limit(256, HEADER_TIMEOUT, IDLE_TIMEOUT);
        limits.max_connections = 2;
        limits.overflow = 1;
        let reg = Registry::new(limits);
        let (authed, mut authed_shed, _m1) = reg.admit().unwrap();
        drop(authed.begin(true, false));
        let (_anon, mut anon_shed, _m2) = reg.admit().unwrap();
        // Full: the anonymous one goes, though the authenticated one has been idle longer.
        let (third, _s3, _m3) = reg.admit().unwrap();
        assert!(!third.overflow);
        assert!(anon_shed.try_recv().is_ok());
        assert!(authed_shed.try_recv().is_err());
        // Both busy now: nothing to shed, so one overflow connection, then refusals.
        let _b1 = authed.begin(true, false);
        let _b3 = third.begin(false, false);
        let (over, _s4, _m4) = reg.admit().unwrap();
        assert!(over.overflow);
        assert!(reg.admit().is_none());
        assert_eq!(reg.open(), (2, 1));
    }

    #[tokio::test]
    async fn a_stream_whose_peer_takes_nothing_for_the_stall_limit_is_closed_and_no_other() {
        let reg = Registry::new(Limits::from_fd_limit(256, HEADER_TIMEOUT, IDLE_TIMEOUT));
        let (stuck, mut stuck_shed, _m1) = reg.admit().unwrap();
        let (reading, mut reading_shed, _m2) = reg.admit().unwrap();
        let (request, mut request_shed, _m3) = reg.admit().unwrap();
        let (_busy1, _busy2, _busy3) =
            (stuck.begin(true, true), reading.begin(true, true), request.begin(true, false));
        stuck.migrate();
        reading.migrate();
        let start = Instant::now();
        // Both streams were handed a chunk; only the reading one was asked for more since.
        stuck.stalled.store(reg.stamp(start), Ordering::Relaxed);
        reading.stalled.store(0, Ordering::Relaxed);
        // A plain response slow to download is not a stream: it is left alone.
        request.stalled.store(reg.stamp(start), Ordering::Relaxed);
        assert_eq!(reg.shed_stalled(start + STREAM_STALL / 2), 0);
        assert_eq!(reg.shed_stalled(start + STREAM_STALL + Duration::from_secs(1)), 1);
        assert!(stuck_shed.try_recv().is_ok());
        assert!(reading_shed.try_recv().is_err() && request_shed.try_recv().is_err());
        assert_eq!(reg.open(), (2, 0));
    }

    #[tokio::test]
    async fn a_stopping_server_waits_for_requests_in_flight_and_last_answers_but_not_idle_connections() {
        let reg = Registry::new(Limits::from_fd_limit(256, HEADER_TIMEOUT, IDLE_TIMEOUT));
        let (call, _s1, _m1) = reg.admit().unwrap();
        let (stream, _s2, _m2) = reg.admit().unwrap();
        let (idle, _s3, _m3) = reg.admit().unwrap();
        drop(idle.begin(true, false));
        let in_flight = call.begin(true, false);
        let streaming = stream.begin(true, true);
        // The stream and the idle keep-alive connection do not hold the stop up.
        assert_eq!(reg.drain(), 1);
        assert_eq!(reg.unsettled(), (1, 0));
        let settled = reg.settled();
        tokio::pin!(settled);
        assert!(futures_util::poll!(settled.as_mut()).is_pending());
        // Answered with `Connection: close`: waited for until the connection is gone.
        call.close_after_answer();
        drop(in_flight);
        assert_eq!(reg.unsettled(), (0, 1));
        assert!(futures_util::poll!(settled.as_mut()).is_pending());
        drop(call);
        settled.await;
        // Streams are ended last, and waited for until their connections close.
        assert_eq!(reg.end_streams(), 1);
        assert_eq!(reg.unsettled(), (0, 1));
        drop(streaming);
        drop(stream);
        reg.settled().await;
        assert_eq!(reg.open(), (1, 0), "the idle connection stays open to answer its next request");
    }
}
