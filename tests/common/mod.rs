//! Test harness: real servers on 127.0.0.1 port 0 in temp dirs, in-process or as the real
//! binary (for SIGKILL and restart), users for every role, and condition waits with deadlines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Stdio};
use std::time::{Duration, Instant};

use warroom::client::Client;
use warroom::config::UserConfig;
use warroom::model::UserRole;
use warroom::server::{start, RunningServer, ServerOptions};

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn token(role: UserRole) -> String {
    format!("test-token-for-{role}-0123456789")
}

pub fn users() -> Vec<UserConfig> {
    [
        ("alice", UserRole::Commander),
        ("bob", UserRole::Responder),
        ("victor", UserRole::Villain),
        ("olivia", UserRole::Observer),
        ("root", UserRole::Admin),
    ]
    .into_iter()
    .map(|(name, role)| UserConfig { name: name.into(), role, token: token(role) })
    .collect()
}

pub struct TestServer {
    pub server: RunningServer,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let server = start(ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            users: users(),
            commands_per_second: UNLIMITED,
            command_burst: UNLIMITED,
            ..Default::default()
        })
        .await
        .unwrap();
        let url = server.url();
        TestServer { server, url, _dir: dir }
    }

    pub fn client(&self, role: UserRole) -> Client {
        Client::new(&self.url, &token(role)).unwrap()
    }
}

/// The per-user command rate test servers allow: none to speak of. Tests that load a server
/// (thousands of commands from two users) are about something else; `tests/hardening.rs`
/// holds a server to a rate of its own.
pub const UNLIMITED: u32 = u32::MAX;

/// Writes a server config with the test users (and no command rate to speak of); returns its
/// path.
pub fn write_config(dir: &Path) -> PathBuf {
    let limits = warroom::config::LimitsConfig {
        commands_per_second: Some(UNLIMITED),
        command_burst: Some(UNLIMITED),
        ..Default::default()
    };
    let cfg = warroom::config::ServerConfig { users: users(), limits, ..Default::default() };
    let path = dir.join("server.toml");
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    path
}

/// The real `warroom serve` in a child process.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub listen: String,
}

impl ServerProcess {
    pub fn spawn(data: &Path, config: &Path, listen: &str) -> ServerProcess {
        ServerProcess::spawn_with(data, config, listen, &[])
    }

    pub fn spawn_with(data: &Path, config: &Path, listen: &str, extra: &[&str]) -> ServerProcess {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let mut child = Proc::new(env!("CARGO_BIN_EXE_warroom"))
                .args(["serve", "--listen", listen])
                .args(extra)
                .arg("--data")
                .arg(data)
                .arg("--config")
                .arg(config)
                .env("WARROOM_CONFIG_DIR", data.join("no-config"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            out.read_line(&mut line).unwrap();
            // Keep draining both pipes for the child's whole life: a closed or full pipe must
            // never be what stops the server under test.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            let mut err = child.stderr.take().unwrap();
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            if let Some(url) = line.trim().strip_prefix("warroom listening on ") {
                let listen = url.trim_start_matches("http://").to_string();
                return ServerProcess { child, url: url.to_string(), listen };
            }
            // The port of a killed server can take a moment to be free again.
            let _ = child.wait();
            assert!(Instant::now() < deadline, "server did not start: {line}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event in the log, paging through `/events`.
pub async fn all_events(client: &Client) -> Vec<warroom::model::Event> {
    let mut out = Vec::new();
    loop {
        let page =
            client.events(out.last().map_or(0, |e: &warroom::model::Event| e.seq), 5000).await.unwrap();
        let done = page.events.is_empty();
        out.extend(page.events);
        if done {
            return out;
        }
    }
}

/// A webhook receiver: records every JSON body POSTed to it.
pub struct Webhook {
    pub url: String,
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    pub async fn start(listen: &str) -> Webhook {
        use axum::routing::post;
        let bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
        let b = bodies.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let b = b.clone();
                async move {
                    b.lock().unwrap().push(v);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Webhook { url, bodies, task }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One mail as an SMTP sink saw it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A small SMTP sink: enough of RFC 5321 for a client to deliver, recording each mail.
pub async fn smtp_sink() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Mail>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>> = Default::default();
    let m = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let m = m.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                let mut mail = Mail::default();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mail.from = line[10..].trim().to_string();
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        mail.to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            mail.data.push_str(&l);
                            mail.data.push('\n');
                        }
                        m.lock().unwrap().push(std::mem::take(&mut mail));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, mails)
}

/// A public declaration with nothing but a title and a severity, as most tests need.
pub fn declare(title: &str, severity: warroom::model::Severity) -> warroom::protocol::Command {
    warroom::protocol::Command::new(warroom::model::Intent::DeclareIncident {
        title: title.into(),
        severity,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
    })
}

/// A channel of `kind` named `name` with no destination set: what tests configure before
/// filling in the URL or recipients a kind needs (a status page channel needs none).
pub fn channel(name: &str, kind: warroom::config::ChannelKind) -> warroom::config::ChannelConfig {
    warroom::config::ChannelConfig {
        name: name.into(),
        kind,
        audience: None,
        url: None,
        token: None,
        smtp: None,
        tls: warroom::config::SmtpTls::None,
        from: None,
        recipients_file: None,
        drills: false,
    }
}
