//! The durable outbox: commands made while the server is unreachable, kept in a file in the
//! client's data dir and sent in order once it is back. Idempotency keys make retries safe.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::{Client, ClientError};
use crate::protocol::{Ack, Command};

#[derive(Debug, Clone)]
pub struct Outbox {
    path: PathBuf,
    lock_path: PathBuf,
}

/// What one flush did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub sent: Vec<(Command, Ack)>,
    /// Refused by the server: dropped from the outbox, to be shown to the user.
    pub refused: Vec<(Command, ClientError)>,
    /// Why flushing stopped early, when it did; what remains is still queued.
    pub stopped: Option<ClientError>,
    pub remaining: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("outbox {path}: {detail}")]
pub struct OutboxError {
    pub path: PathBuf,
    pub detail: String,
}

impl Outbox {
    /// One outbox per server, so switching servers never sends commands to the wrong one.
    pub fn for_server(data_dir: &Path, server: &str) -> Outbox {
        let name: String = server
            .trim_end_matches('/')
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        Outbox {
            path: data_dir.join(format!("outbox-{name}.jsonl")),
            lock_path: data_dir.join(format!("outbox-{name}.lock")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, detail: impl std::fmt::Display) -> OutboxError {
        OutboxError { path: self.path.clone(), detail: detail.to_string() }
    }

    /// Serializes access between this process and any other client on the same data dir.
    fn lock(&self) -> Result<File, OutboxError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| self.err(e))?;
        f.lock().map_err(|e| self.err(e))?;
        Ok(f)
    }

    /// Appends a command durably (fsync) before the user is told it is queued.
    pub fn push(&self, command: &Command) -> Result<usize, OutboxError> {
        let _lock = self.lock()?;
        let mut f = OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| self.err(e))?;
        let line = serde_json::to_string(command).expect("command serializes");
        writeln!(f, "{line}").and_then(|_| f.sync_all()).map_err(|e| self.err(e))?;
        Ok(self.read()?.len())
    }

    pub fn pending(&self) -> Result<Vec<Command>, OutboxError> {
        let _lock = self.lock()?;
        self.read()
    }

    fn read(&self) -> Result<Vec<Command>, OutboxError> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| self.err(e))?;
            if line.trim().is_empty() {
                continue;
            }
            // A torn last line (crash mid-append) was never acknowledged to anyone: skip it.
            match serde_json::from_str(&line) {
                Ok(c) => out.push(c),
                Err(e) => crate::stderr!("warroom: {}: line {}: skipped: {e}", self.path.display(), i + 1),
            }
        }
        Ok(out)
    }

    fn write(&self, commands: &[Command]) -> Result<(), OutboxError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut f = File::create(&tmp).map_err(|e| self.err(e))?;
        for c in commands {
            writeln!(f, "{}", serde_json::to_string(c).expect("command serializes"))
                .map_err(|e| self.err(e))?;
        }
        f.sync_all().map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }

    /// Removes one command (once sent or refused), wherever it is in the file.
    fn remove(&self, id: uuid::Uuid) -> Result<usize, OutboxError> {
        let _lock = self.lock()?;
        let mut queue = self.read()?;
        queue.retain(|c| c.id != id);
        self.write(&queue)?;
        Ok(queue.len())
    }

    /// Sends queued commands in order until one cannot reach the server. The file lock is
    /// held only around file access, never across the network, so queuing stays instant
    /// while a send waits on a dead server; a command sent twice by two flushers is applied
    /// once thanks to its idempotency key.
    pub async fn flush(&self, client: &Client) -> Result<Flushed, OutboxError> {
        let mut done = Flushed::default();
        while let Some(command) = self.pending()?.into_iter().next() {
            match client.send(&command).await {
                Ok(ack) => done.sent.push((command.clone(), ack)),
                Err(e) if e.keeps_queued() => {
                    done.stopped = Some(e);
                    break;
                }
                Err(e) => done.refused.push((command.clone(), e)),
            }
            self.remove(command.id)?;
        }
        done.remaining = self.pending()?.len();
        Ok(done)
    }
}
