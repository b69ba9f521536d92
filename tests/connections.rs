//! No connection can starve the room: half-open peers are cut at the header deadline, the
//! connection cap sheds idle anonymous peers, one user's streams are capped, and a stream that
//! is slow to read holds up neither acks nor anyone else's stream.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, token, users, DEADLINE};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warroom::client::{Client, StreamItem};
use warroom::model::{Intent, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, RunningServer, ServerOptions};

struct Server {
    server: RunningServer,
    url: String,
    _dir: tempfile::TempDir,
}

async fn server_with(tune: impl FnOnce(&mut ServerOptions)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: users(),
        ..Default::default()
    };
    tune(&mut opts);
    let server = start(opts).await.unwrap();
    let url = server.url();
    Server { server, url, _dir: dir }
}

fn client(s: &Server, role: UserRole) -> Client {
    Client::new(&s.url, &token(role)).unwrap()
}

fn declare() -> Command {
    Command::new(Intent::DeclareIncident {
        title: "Checkout is down".into(),
        severity: Severity::Sev5,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
    })
}

/// A request head cut off before its blank line: the peer never finishes it.
const HALF: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: warroom\r\n";

/// Reads until the peer closes; true if it closed before the deadline.
async fn closed_by_peer(sock: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(DEADLINE, read_to_end).await.is_ok()
}

/// Sends one request on a raw connection and reads its response: (status, body).
async fn request(sock: &mut TcpStream, head: &str) -> (u16, String) {
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let done = |got: &[u8]| -> Option<(u16, String)> {
        let text = std::str::from_utf8(got).ok()?;
        let (headers, body) = text.split_once("\r\n\r\n")?;
        let status = headers.split(' ').nth(1)?.parse().ok()?;
        let len: usize = headers
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
            })?
            .parse()
            .ok()?;
        (body.len() >= len).then(|| (status, body.to_string()))
    };
    let read = async {
        loop {
            if let Some(r) = done(&got) {
                return r;
            }
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed before answering; got {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(DEADLINE, read).await.expect("no response before the deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_finishes_its_headers_is_cut_at_the_header_timeout() {
    let s = server_with(|o| o.header_timeout = Duration::from_millis(200)).await;
    let mut sock = TcpStream::connect(s.server.addr).await.unwrap();
    sock.write_all(HALF).await.unwrap();
    assert!(closed_by_peer(&mut sock).await, "a half-open connection was still open after {DEADLINE:?}");
    eventually("the connection to leave the count", || async { s.server.connections.open() == (0, 0) }).await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_anonymous_connection_is_closed_but_an_authenticated_one_is_kept() {
    let s = server_with(|o| o.idle_timeout = Duration::from_millis(200)).await;
    let mut anon = TcpStream::connect(s.server.addr).await.unwrap();
    let mut authed = TcpStream::connect(s.server.addr).await.unwrap();
    let (status, _) = request(&mut anon, "GET /healthz HTTP/1.1\r\nHost: w\r\n\r\n").await;
    assert_eq!(status, 200);
    let whoami = format!(
        "GET /api/v1/whoami HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer {}\r\n\r\n",
        token(UserRole::Observer)
    );
    let (status, body) = request(&mut authed, &whoami).await;
    assert_eq!(status, 200, "{body}");
    assert!(closed_by_peer(&mut anon).await, "an idle anonymous connection outlived its idle timeout");
    // Idle just as long, yet still served: its deadline is a minute.
    let (status, body) = request(&mut authed, &whoami).await;
    assert_eq!(status, 200, "{body}");
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_healthz_status_and_commands_still_answer() {
    const CAP: usize = 40;
    const HALF_OPEN: usize = 300;
    // A long header timeout: only shedding can make room here.
    let s = server_with(|o| {
        o.max_connections = Some(CAP);
        o.header_timeout = Duration::from_secs(120);
    })
    .await;
    let closed = Arc::new(AtomicUsize::new(0));
    let mut holders = Vec::new();
    for _ in 0..HALF_OPEN {
        let mut sock = TcpStream::connect(s.server.addr).await.unwrap();
        sock.write_all(HALF).await.unwrap();
        let closed = closed.clone();
        holders.push(tokio::spawn(async move {
            if closed_by_peer(&mut sock).await {
                closed.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    eventually("the oldest half-open connections to be shed", || async {
        closed.load(Ordering::SeqCst) == HALF_OPEN - CAP
    })
    .await;
    assert_eq!(s.server.connections.open(), (CAP, 0));
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let status = http.get(format!("{}/status", s.url)).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let ack = client(&s, UserRole::Commander).send(&declare()).await.unwrap();
    assert_eq!(ack.seq, 1);
    // A stream opens too, and the cap still holds.
    let mut stream = client(&s, UserRole::Observer).stream(0).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamItem::Hello { .. }))));
    assert!(s.server.connections.open().0 <= CAP);
    drop(stream);
    s.server.stop().await;
    for h in holders {
        h.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_slot_is_busy_healthz_still_answers_and_other_requests_get_503() {
    let s = server_with(|o| o.max_connections = Some(2)).await;
    let mut streams = Vec::new();
    for role in [UserRole::Observer, UserRole::Responder] {
        let mut st = client(&s, role).stream(0).await.unwrap();
        assert!(matches!(st.next().await, Some(Ok(StreamItem::Hello { .. }))));
        streams.push(st);
    }
    let health = reqwest::get(format!("{}/healthz", s.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    let status = reqwest::get(format!("{}/status.json", s.url)).await.unwrap();
    assert_eq!(status.status(), 200);
    let refused = reqwest::Client::new()
        .post(format!("{}/api/v1/commands", s.url))
        .bearer_auth(token(UserRole::Commander))
        .json(&declare())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_connections");
    assert!(body["detail"].as_str().unwrap().contains("limit of 2 connections"), "{body}");
    // The refusal shows where an operator looks: /healthz and /metrics count it.
    let health: serde_json::Value =
        reqwest::get(format!("{}/healthz", s.url)).await.unwrap().json().await.unwrap();
    assert_eq!(health["connections"]["max"], 2, "{health}");
    assert!(health["connections"]["refused"].as_u64() >= Some(1), "{health}");
    let c = s.server.app.metrics().connections().unwrap();
    assert!(c.refused >= 1 && c.max == 2, "{c:?}");
    assert!(s.server.app.metrics().render(&s.server.app).contains("warroom_connections_refused_total"));
    // A stream ending frees its slot for commands again.
    streams.pop();
    let commander = client(&s, UserRole::Commander);
    eventually("a command to be served once a slot is free", || async {
        commander.send(&declare()).await.is_ok()
    })
    .await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_at_the_stream_cap_gets_429_and_others_still_stream() {
    let s = server_with(|o| o.streams_per_user = 2).await;
    let olivia = client(&s, UserRole::Observer);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut st = olivia.stream(0).await.unwrap();
        assert!(matches!(st.next().await, Some(Ok(StreamItem::Hello { .. }))));
        held.push(st);
    }
    let refused = reqwest::Client::new()
        .get(format!("{}/api/v1/stream", s.url))
        .bearer_auth(token(UserRole::Observer))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_streams");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("olivia") && detail.contains("2 event streams"), "{detail}");
    // Someone else still streams, and sees the next event.
    let mut alice = client(&s, UserRole::Commander).stream(0).await.unwrap();
    assert!(matches!(alice.next().await, Some(Ok(StreamItem::Hello { .. }))));
    let ack = client(&s, UserRole::Commander).send(&declare()).await.unwrap();
    let seen = tokio::time::timeout(DEADLINE, async {
        while let Some(item) = alice.next().await {
            if let Ok(StreamItem::Event(e)) = item {
                return e.seq;
            }
        }
        0
    })
    .await
    .unwrap();
    assert_eq!(seen, ack.seq);
    // Closing one of olivia's streams gives her the slot back.
    held.pop();
    eventually("olivia's slot to be freed", || opens_a_stream(&olivia)).await;
    s.server.stop().await;
}

/// Whether `client` may open a stream now (it says hello).
async fn opens_a_stream(client: &Client) -> bool {
    match client.stream(0).await {
        Ok(mut st) => matches!(st.next().await, Some(Ok(StreamItem::Hello { .. }))),
        Err(_) => false,
    }
}

/// Opens an event stream on a raw socket (with a small receive window when `small`) and
/// reads up to its hello; the socket and the bytes read so far.
async fn raw_stream(url: &str, role: UserRole, small: bool) -> (TcpStream, Vec<u8>) {
    raw_stream_over(url, role, small, "HTTP/1.1").await
}

/// [`raw_stream`], asked in HTTP `version`.
async fn raw_stream_over(url: &str, role: UserRole, small: bool, version: &str) -> (TcpStream, Vec<u8>) {
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if small {
        // The kernel's floor (a few KB): the server's writes back up at once.
        socket.set_recv_buffer_size(4096).unwrap();
    }
    let mut sock = socket.connect(addr).await.unwrap();
    let head = format!(
        "GET /api/v1/stream {version}\r\nHost: warroom\r\nAuthorization: Bearer {}\r\n\r\n",
        token(role)
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let hello = async {
        while !String::from_utf8_lossy(&got).contains("event: hello") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream closed before its hello: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(DEADLINE, hello).await.expect("no hello before the deadline");
    (sock, got)
}

/// Reads a raw stream until it has carried event `last`; the seq of every frame it carried,
/// in the order they came (duplicates included), and whether it was told to re-sync.
async fn read_ids_until(sock: &mut TcpStream, mut got: Vec<u8>, last: u64) -> (Vec<u64>, bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut ids = Vec::new();
    let read = async {
        loop {
            // Whole lines only; chunked encoding puts a size line between chunks, never inside
            // a frame's lines.
            let mut start = 0;
            while let Some(end) = got[start..].iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&got[start..start + end]).into_owned();
                start += end + 1;
                if line.starts_with("event: resync") {
                    return true;
                }
                if let Some(seq) = line.strip_prefix("id: ").and_then(|n| n.trim().parse::<u64>().ok()) {
                    ids.push(seq);
                    if seq >= last {
                        return false;
                    }
                }
            }
            got.drain(..start);
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended at {:?}", ids.last());
            got.extend_from_slice(&buf[..n]);
        }
    };
    let resync = tokio::time::timeout(DEADLINE, read)
        .await
        .expect("the stream did not reach its last event before the deadline");
    (ids, resync)
}

fn note(text: String) -> Command {
    Command::new(Intent::AddNote { incident: warroom::model::IncidentId(1), text })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reads_late_gets_every_queued_event_in_order_exactly_once() {
    let s = server_with(|_| {}).await;
    let alice = client(&s, UserRole::Commander);
    alice.send(&declare()).await.unwrap();
    let (mut sock, got) = raw_stream(&s.url, UserRole::Observer, false).await;
    // Every event is committed (and queued for the subscriber) before it reads again.
    let mut last = 0;
    for i in 0..50 {
        last = alice.send(&note(format!("note {i}"))).await.unwrap().seq;
    }
    let (ids, resync) = read_ids_until(&mut sock, got, last).await;
    assert!(!resync);
    assert_eq!(ids, (1..=last).collect::<Vec<_>>());
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_holds_up_neither_acks_nor_other_streams() {
    let s = server_with(|_| {}).await;
    let alice = client(&s, UserRole::Commander);
    alice.send(&declare()).await.unwrap();
    let (mut stuck, stuck_got) = raw_stream(&s.url, UserRole::Observer, true).await;
    let (mut watching, watching_got) = raw_stream(&s.url, UserRole::Responder, false).await;
    // Far more than the stuck peer's socket buffers hold (loopback send buffers grow to 4 MB):
    // its stream's writes stop long before the last command. Every command is still acked
    // (each within the deadline: the client gives up on a command after 30 s).
    let text = "x".repeat(16_000);
    let mut last = 0;
    for i in 0..600 {
        last = alice.send(&note(format!("{i} {text}"))).await.unwrap().seq;
    }
    // Someone reading keeps up, whatever the stuck one does.
    let (ids, resync) = read_ids_until(&mut watching, watching_got, last).await;
    assert!(!resync);
    assert_eq!(ids, (1..=last).collect::<Vec<_>>());
    // Once it reads again, the stuck one gets everything too, in order, exactly once.
    let (ids, resync) = read_ids_until(&mut stuck, stuck_got, last).await;
    assert!(!resync);
    assert_eq!(ids, (1..=last).collect::<Vec<_>>());
    s.server.stop().await;
}

/// A stream's connection writes the stream itself once hyper has sent the head: in HTTP/1.1
/// chunked framing, and it notices a peer that leaves without waiting for a write to fail.
/// Heartbeats are an hour apart here, so nothing is written after the hello: without the
/// connection watching its socket, the slot would stay taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_peer_leaves_frees_its_slot_though_nothing_is_written() {
    let s = server_with(|o| {
        o.streams_per_user = 1;
        o.heartbeat = Duration::from_secs(3600);
    })
    .await;
    let (sock, got) = raw_stream(&s.url, UserRole::Observer, false).await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        text.contains("Transfer-Encoding: chunked") || text.contains("transfer-encoding: chunked"),
        "{text}"
    );
    // The hello is one chunk: its size line, then the frame.
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let (size, frame) = body.split_once("\r\n").unwrap();
    assert!(frame.starts_with("event: hello\n"), "{body:?}");
    assert!(usize::from_str_radix(size, 16).unwrap() >= "event: hello\n".len(), "{body:?}");
    let olivia = client(&s, UserRole::Observer);
    assert!(olivia.stream(0).await.is_err(), "the one stream she may hold is taken");
    drop(sock);
    eventually("the left stream's slot to be freed", || opens_a_stream(&olivia)).await;
    s.server.stop().await;
}

/// hyper frames an HTTP/1.0 response by closing the connection, not in chunks: such a stream
/// stays with hyper, and still streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_stream_is_sent_by_hyper_unchunked() {
    let s = server_with(|_| {}).await;
    let (mut sock, got) = raw_stream_over(&s.url, UserRole::Observer, false, "HTTP/1.0").await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(!text.to_ascii_lowercase().contains("transfer-encoding"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert!(body.starts_with("event: hello\n"), "no chunk size line before the frame: {body:?}");
    // And it streams: the next event arrives on it.
    let ack = client(&s, UserRole::Commander).send(&declare()).await.unwrap();
    let (ids, resync) = read_ids_until(&mut sock, got, ack.seq).await;
    assert!(!resync);
    assert_eq!(ids.last(), Some(&ack.seq));
    s.server.stop().await;
}

/// A body that never finishes holds its slot only until the body deadline: then it is answered
/// 408 and its connection closes, so token holders sending half a body cannot fill the cap
/// (bodies are read before the role check: an observer's token is enough to try).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_bodies_are_answered_408_and_free_their_slots() {
    let s = server_with(|o| o.max_connections = Some(2)).await;
    let head = format!(
        "POST /api/v1/commands HTTP/1.1\r\nHost: warroom\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\"",
        token(UserRole::Observer)
    );
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut sock = TcpStream::connect(s.server.addr).await.unwrap();
        sock.write_all(head.as_bytes()).await.unwrap();
        stalled.push(sock);
    }
    // Both slots are busy with them now: a command is refused until they are cut.
    let commander = client(&s, UserRole::Commander);
    eventually("both stalled requests to hold their slots", || async { s.server.connections.open().0 == 2 })
        .await;
    for mut sock in stalled {
        let mut got = Vec::new();
        let read = async {
            let mut buf = [0u8; 1024];
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(DEADLINE, read).await.expect("the stalled request was never cut");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("body_timeout"), "{text}");
    }
    eventually("a command to be served once the stalled bodies are cut", || async {
        commander.send(&declare()).await.is_ok()
    })
    .await;
    s.server.stop().await;
}

/// A client that shuts its sending side once the request is out still gets its answer (the
/// command used to be written, its ack never sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_request_is_answered() {
    let s = server_with(|_| {}).await;
    let body = serde_json::to_string(&declare()).unwrap();
    let mut sock = TcpStream::connect(s.server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/commands HTTP/1.1\r\nHost: warroom\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        token(UserRole::Commander),
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, sock.read_to_end(&mut got)).await.expect("no answer").unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"events\""), "the ack: {text}");
    s.server.stop().await;
}
