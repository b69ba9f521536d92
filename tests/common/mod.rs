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

/// Writes a server config with the test users; returns its path.
pub fn write_config(dir: &Path) -> PathBuf {
    let cfg = warroom::config::ServerConfig { users: users(), ..Default::default() };
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
        let deadline = Instant::now() + DEADLINE;
        loop {
            let mut child = Proc::new(env!("CARGO_BIN_EXE_warroom"))
                .args(["serve", "--listen", listen, "--data"])
                .arg(data)
                .arg("--config")
                .arg(config)
                .env("WARROOM_CONFIG_DIR", data.join("no-config"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
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
