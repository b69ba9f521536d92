//! Stopping a server: the listener closes, what was taken is finished and answered, what comes
//! later gets 503 `shutting_down`, streams end with a reconnect hint, and the log a restarted
//! server reads holds every acknowledged command, for clients that resume without a gap.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStderr, Command as Proc, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{declare, eventually, token, users, DEADLINE};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warroom::client::sync::{SyncEvent, RESTARTING};
use warroom::client::{Client, StreamItem};
use warroom::model::{IncidentId, Intent, Severity, UserRole};
use warroom::protocol::{Ack, Command};
use warroom::server::{start, ServerOptions};

fn note(text: &str) -> Command {
    Command::new(Intent::AddNote { incident: IncidentId(1), text: text.into() })
}

/// One response read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn closes(&self) -> bool {
        self.headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Writes `bytes` and reads one response (bodies here have a Content-Length).
async fn exchange(sock: &mut TcpStream, bytes: &[u8]) -> Answer {
    sock.write_all(bytes).await.unwrap();
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(answer) = parse(&got) {
                return answer;
            }
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the connection without an answer");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(DEADLINE, read).await.expect("no answer before the deadline")
}

fn parse(got: &[u8]) -> Option<Answer> {
    let text = std::str::from_utf8(got).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    (body.len() >= length).then(|| Answer { status, headers, body: body[..length].to_string() })
}

fn get(path: &str, role: UserRole) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer {}\r\n\r\n", token(role))
}

fn post_head(command: &Command, role: UserRole) -> (String, String) {
    let body = serde_json::to_string(command).unwrap();
    let head = format!(
        "POST /api/v1/commands HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        token(role),
        body.len()
    );
    (head, body)
}

/// Reads an event stream's raw text until the server ends it.
async fn read_to_end(resp: reqwest::Response) -> String {
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    };
    tokio::time::timeout(DEADLINE, read).await.expect("the stream did not end before the deadline");
    text
}

/// The seqs (`id:` lines) of an SSE text, in order.
fn ids(text: &str) -> Vec<u64> {
    text.lines().filter_map(|l| l.strip_prefix("id: ")).map(|s| s.trim().parse().unwrap()).collect()
}

fn assert_ends_with_the_hint(text: &str) {
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert_eq!(
        last, "retry: 1000\nevent: shutdown\ndata: {\"reconnect_after_ms\":1000}",
        "the stream's last frame is not the shutdown hint:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_finishes_the_command_in_flight_refuses_new_work_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: users(),
        // The command below is held in flight on purpose: no deadline may cut it here.
        shutdown_grace: Duration::from_secs(600),
        ..Default::default()
    };
    let mut server = start(opts()).await.unwrap();
    let (url, addr) = (server.url(), server.addr);
    let commander = Client::new(&url, &token(UserRole::Commander)).unwrap();
    commander.send(&declare("Checkout is down", Severity::Sev2)).await.unwrap();
    let hooks = Arc::new(AtomicUsize::new(0));
    let ran = hooks.clone();
    server.on_exit(move || {
        ran.fetch_add(1, Ordering::SeqCst);
    });

    // In flight: the head and half the body of a command.
    let held = note("sent before the stop, finished after it");
    let (head, body) = post_head(&held, UserRole::Commander);
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body.as_bytes()[..body.len() / 2]).await.unwrap();
    eventually("the command to be in flight", || async { server.connections.unsettled().0 == 1 }).await;
    // Idle keep-alive connections and a stream, open before the stop.
    let mut probers = Vec::new();
    for _ in 0..2 {
        let mut prober = TcpStream::connect(addr).await.unwrap();
        assert_eq!(exchange(&mut prober, get("/healthz", UserRole::Observer).as_bytes()).await.status, 200);
        probers.push(prober);
    }
    let mut late = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut late, get("/api/v1/whoami", UserRole::Commander).as_bytes()).await.status, 200);
    let stream = reqwest::Client::new()
        .get(format!("{url}/api/v1/stream"))
        .bearer_auth(token(UserRole::Observer))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let stream = tokio::spawn(read_to_end(stream));

    let stopping = tokio::spawn(server.stop());
    // Load balancers are told at once; the first answer that says so closes its connection.
    // (So may a 200 finished just as the drain began: then the next connection says it.)
    let until = Instant::now() + DEADLINE;
    let mut prober = probers.remove(0);
    let healthz = loop {
        let answer = exchange(&mut prober, get("/healthz", UserRole::Observer).as_bytes()).await;
        if answer.status != 200 {
            break answer;
        }
        if answer.closes() {
            prober = probers.pop().expect("a second 200 after the drain began");
        }
        assert!(Instant::now() < until && !stopping.is_finished(), "healthz never said the server stops");
    };
    assert_eq!(healthz.status, 503, "{healthz:?}");
    assert_eq!(healthz.json()["status"], "shutting_down");
    assert!(healthz.closes(), "{healthz:?}");
    // The listener closed before that: a new connection is refused, not reset.
    let refused = TcpStream::connect(addr).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused, "{refused}");
    // A command arriving now is refused with a hint to come back, and nothing of it is written.
    let too_late = note("sent after the stop began");
    let (late_head, late_body) = post_head(&too_late, UserRole::Commander);
    let answer = exchange(&mut late, format!("{late_head}{late_body}").as_bytes()).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.json()["error"], "shutting_down");
    assert_eq!(answer.headers.get("retry-after").map(String::as_str), Some("1"));
    assert!(answer.closes());
    // The stop waits for the command in flight, which is then answered in full.
    assert!(!stopping.is_finished(), "the stop did not wait for the command in flight");
    let answer = exchange(&mut in_flight, &body.as_bytes()[body.len() / 2..]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let ack: Ack = serde_json::from_str(&answer.body).unwrap();
    assert!(answer.closes());

    let stopped = tokio::time::timeout(DEADLINE, stopping).await.expect("the stop never ended").unwrap();
    assert!(stopped.is_clean(), "{stopped}");
    // The held command, and perhaps a health check that was under way.
    assert!(stopped.finished >= 1 && stopped.streams == 1, "{stopped}");
    assert_eq!(hooks.load(Ordering::SeqCst), 1, "the exit hook ran once");
    // The stream carried the command finished during the stop, then the hint.
    let text = stream.await.unwrap();
    assert_eq!(ids(&text), (1..=ack.seq).collect::<Vec<_>>(), "{text}");
    assert_ends_with_the_hint(&text);
    drop(stopped);

    let again = start(opts()).await.unwrap();
    let events = common::all_events(&Client::new(&again.url(), &token(UserRole::Commander)).unwrap()).await;
    assert!(events.iter().any(|e| e.command_id == held.id && e.seq == ack.seq));
    assert!(events.iter().all(|e| e.command_id != too_late.id), "a refused command was written");
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_outlives_its_grace_is_cut_and_says_what_it_cut() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: users(),
        shutdown_grace: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    // A command whose body never comes.
    let (head, _) = post_head(&note("never finished"), UserRole::Commander);
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck.write_all(head.as_bytes()).await.unwrap();
    eventually("the command to be in flight", || async { server.connections.unsettled().0 == 1 }).await;
    let stopped = tokio::time::timeout(DEADLINE, server.stop()).await.expect("the stop was not bounded");
    assert!(!stopped.is_clean());
    assert!(stopped.to_string().contains("requests in flight not answered: 1"), "{stopped}");
    // Only that: the writer's queue was empty and a lone server's lease is nothing to release,
    // though the grace had run out before either was looked at.
    assert_eq!(stopped.cut.len(), 1, "{stopped}");
}

/// A `warroom serve` child whose stderr the test can read at any moment, in full.
struct Serving {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Stderr>,
}

/// The child's stderr: everything it wrote so far, read without blocking. Read right after a
/// client saw a connection die, it holds every line the server wrote before that connection
/// died: a line written before the exit is in the pipe before the exit closes any socket.
struct Stderr {
    pipe: Mutex<(ChildStderr, String, bool)>,
}

impl Stderr {
    fn new(pipe: ChildStderr) -> Arc<Stderr> {
        use std::os::fd::AsRawFd;
        let fd = pipe.as_raw_fd();
        // SAFETY: fcntl on a descriptor this process owns, changing only its blocking mode.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            assert!(flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0);
        }
        let stderr = Arc::new(Stderr { pipe: Mutex::new((pipe, String::new(), false)) });
        // Keep reading while nobody asks, so a full pipe never stops the server.
        let reader = stderr.clone();
        std::thread::spawn(move || {
            while !reader.drain() {
                let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                // SAFETY: poll on one descriptor owned by `reader`, alive for this loop.
                unsafe { libc::poll(&mut poll, 1, 100) };
            }
        });
        stderr
    }

    /// Reads what is there; true once the child closed its end.
    fn drain(&self) -> bool {
        let mut guard = self.pipe.lock().unwrap();
        let (pipe, text, closed) = &mut *guard;
        let mut buf = [0u8; 4096];
        while !*closed {
            match pipe.read(&mut buf) {
                Ok(0) => *closed = true,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading the server's stderr: {e}"),
            }
        }
        *closed
    }

    fn text(&self) -> String {
        self.drain();
        self.pipe.lock().unwrap().1.clone()
    }
}

impl Serving {
    fn spawn(data: &Path, config: &Path) -> Serving {
        let mut child = Proc::new(env!("CARGO_BIN_EXE_warroom"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--config")
            .arg(config)
            .env("WARROOM_CONFIG_DIR", data.join("no-config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let stderr = Stderr::new(child.stderr.take().unwrap());
        let url = line.trim().strip_prefix("warroom listening on ").unwrap_or_else(|| panic!("{line}"));
        let addr = url.trim_start_matches("http://").parse().unwrap();
        Serving { child, addr, stderr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill sends a signal to our own child, which has not been waited for yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits for the child to exit, polling until the deadline.
    async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit; it said:\n{}", self.stderr.text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How one writer's last command ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// 503 `shutting_down` with `Retry-After`.
    ShuttingDown,
    /// A new connection refused: the listener is closed.
    Refused,
    /// No answer, after the server had said its last line: the exit closed the connection.
    AfterExit,
    /// Anything else: the failure this test looks for.
    Wrong(String),
}

/// What the server said last before exiting after a clean stop.
const STOPPED: &str = "warroom: stopped cleanly";

fn refused(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Sends notes until the server stops taking them; every acknowledged one goes in `acked`.
async fn writer(
    n: usize,
    url: String,
    stderr: Arc<Stderr>,
    acked: Arc<Mutex<Vec<(uuid::Uuid, u64)>>>,
) -> End {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + DEADLINE * 2;
    for i in 0u64.. {
        if Instant::now() > deadline {
            return End::Wrong("still taking commands at the deadline".into());
        }
        let command = note(&format!("writer {n} note {i}"));
        let sent = http
            .post(format!("{url}/api/v1/commands"))
            .bearer_auth(token(UserRole::Commander))
            .json(&command)
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if refused(&e) => return End::Refused,
            // Read right after the failure: a line written before the exit is there.
            Err(_) if stderr.text().contains(STOPPED) => return End::AfterExit,
            Err(e) => return End::Wrong(format!("no answer while the server was up: {e:?}")),
        };
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").is_some();
        let body = match resp.text().await {
            Ok(body) => body,
            Err(e) => return End::Wrong(format!("an answer cut short: {e:?}")),
        };
        match status {
            200 => match serde_json::from_str::<Ack>(&body) {
                Ok(ack) => acked.lock().unwrap().push((command.id, ack.seq)),
                Err(e) => return End::Wrong(format!("{e}: {body}")),
            },
            503 if retry_after && body.contains("\"error\":\"shutting_down\"") => return End::ShuttingDown,
            _ => return End::Wrong(format!("{status}: {body}")),
        }
    }
    End::Wrong("ran out of numbers".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_command_and_clients_resume_without_a_gap() {
    const WRITERS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = common::write_config(dir.path());
    let mut server = Serving::spawn(&data, &config);
    let url = server.url();
    let commander = Client::new(&url, &token(UserRole::Commander)).unwrap();
    commander.send(&declare("Checkout is down", Severity::Sev2)).await.unwrap();

    // A raw stream from the start, and a console's sync.
    let raw = reqwest::Client::new()
        .get(format!("{url}/api/v1/stream"))
        .bearer_auth(token(UserRole::Observer))
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    let raw = tokio::spawn(read_to_end(raw));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 16);
    let sync = tokio::spawn(warroom::client::sync::follow(
        Client::new(&url, &token(UserRole::Observer)).unwrap(),
        tx,
    ));
    let synced: Arc<Mutex<Vec<SyncEvent>>> = Arc::default();
    let collector = {
        let synced = synced.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                synced.lock().unwrap().push(e);
            }
        })
    };

    let acked: Arc<Mutex<Vec<(uuid::Uuid, u64)>>> = Arc::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| tokio::spawn(writer(n, url.clone(), server.stderr.clone(), acked.clone())))
        .collect();
    eventually("every writer to be acknowledged a few times", || async {
        let acked = acked.lock().unwrap();
        acked.len() >= WRITERS * 10
    })
    .await;
    server.terminate();
    let status = server.exited().await;
    let said = server.stderr.text();
    assert!(status.success(), "exit status {status:?}; the server said:\n{said}");
    assert!(said.contains(STOPPED), "{said}");

    let mut ends: BTreeMap<String, usize> = BTreeMap::new();
    for w in writers {
        let end = tokio::time::timeout(DEADLINE, w).await.expect("a writer never ended").unwrap();
        if let End::Wrong(why) = &end {
            panic!("{why}\nthe server said:\n{said}");
        }
        *ends.entry(format!("{end:?}")).or_default() += 1;
    }
    eprintln!("writers' last commands: {ends:?}; the server said:\n{said}");
    let text = raw.await.unwrap();
    assert_ends_with_the_hint(&text);
    let streamed = ids(&text);
    let last = *streamed.last().unwrap();
    assert_eq!(streamed, (1..=last).collect::<Vec<_>>(), "the stream skipped or repeated");

    // Restarted on the same data dir and address: every acknowledged command is there.
    let listen = server.addr.to_string();
    drop(server);
    let restarted = common::ServerProcess::spawn(&data, &config, &listen);
    let observer = Client::new(&restarted.url, &token(UserRole::Observer)).unwrap();
    let events = common::all_events(&observer).await;
    let head = events.last().unwrap().seq;
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=head).collect::<Vec<_>>());
    let logged: HashMap<uuid::Uuid, u64> = events.iter().map(|e| (e.command_id, e.seq)).collect();
    let acked = acked.lock().unwrap().clone();
    for (id, seq) in &acked {
        assert_eq!(logged.get(id), Some(seq), "acknowledged command {id} (seq {seq}) is not in the log");
    }
    // Work goes on after the restart.
    let commander = Client::new(&restarted.url, &token(UserRole::Commander)).unwrap();
    let mut head = head;
    for i in 0..5 {
        head = commander.send(&note(&format!("after the restart {i}"))).await.unwrap().seq;
    }
    // Resuming the raw stream after its last seq gives the rest, in order, without a gap.
    let mut resumed = observer.stream(last).await.unwrap();
    let mut next = last + 1;
    while next <= head {
        match tokio::time::timeout(DEADLINE, resumed.next()).await.expect("the resumed stream stalled") {
            Some(Ok(StreamItem::Event(e))) => {
                assert_eq!(e.seq, next);
                next += 1;
            }
            Some(Ok(StreamItem::Hello { .. } | StreamItem::Heartbeat { .. } | StreamItem::Sample(_))) => {}
            other => panic!("resuming after {last}: {other:?}"),
        }
    }
    // The console's sync came back by itself after the restart, from where it was: one snapshot
    // (the first), every event once in order, and no error shown meanwhile.
    eventually("the sync to catch up with the restarted server", || async {
        synced.lock().unwrap().iter().any(|e| matches!(e, SyncEvent::Event(e) if e.seq == head))
    })
    .await;
    sync.abort();
    collector.abort();
    let synced = synced.lock().unwrap().clone();
    let snapshots = synced.iter().filter(|e| matches!(e, SyncEvent::Snapshot(_))).count();
    assert_eq!(snapshots, 1, "the sync reloaded instead of resuming");
    let offline: Vec<&String> = synced
        .iter()
        .filter_map(|e| if let SyncEvent::Offline(why) = e { Some(why) } else { None })
        .collect();
    assert!(!offline.is_empty() && offline.iter().all(|why| *why == RESTARTING), "{offline:?}");
    let Some(SyncEvent::Snapshot(first)) = synced.first() else { panic!("{:?}", synced.first()) };
    let seqs: Vec<u64> =
        synced.iter().filter_map(|e| if let SyncEvent::Event(e) = e { Some(e.seq) } else { None }).collect();
    assert_eq!(seqs, (first.seq + 1..=head).collect::<Vec<_>>());
}
