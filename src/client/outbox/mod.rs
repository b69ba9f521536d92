//! The durable outbox: commands made while the server is unreachable, kept per server in the
//! client's data dir with whose token queued each, and sent in order by their owner only.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod listing;

pub use listing::{Flushed, Listing, Owner, Queued, Rejected, Waiting};

use super::{Client, ClientError};
use crate::protocol::Command;

/// Who a token is, without keeping the token: the first 16 hex digits of its SHA-256.
pub fn fingerprint(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// One outbox line as this version writes it. Lines of the first format are a bare
/// `Command` and have no owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    queued_by: Owner,
    queued_at: DateTime<Utc>,
    command: Command,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{}: {detail}", path.display())]
    File { path: PathBuf, detail: String },
    /// Queuing for a server that never answered would hide a typo in its URL.
    #[error(
        "not queued: never reached {server} (a typo in its URL?); check --server, WARROOM_SERVER \
         or `server` in config.toml (the servers this client reached are kept in {})",
        known.display()
    )]
    NeverReached { server: String, known: PathBuf },
    #[error("no command {id} in {}", path.display())]
    NotQueued { id: Uuid, path: PathBuf },
    #[error("command {id} was queued by {who}: only they can send or drop it")]
    NotYours { id: Uuid, who: String },
}

/// A 401 or 403: the token or its user, not the command, is the problem.
fn is_auth(e: &ClientError) -> bool {
    matches!(e, ClientError::Rejected { status: 401 | 403, .. })
}

/// Only a warroom server's 4xx about the command itself removes it; a timeout (408), rate
/// limit (429), or auth problem (401/403) says nothing about the command.
fn refuses_command(e: &ClientError) -> bool {
    matches!(e, ClientError::Rejected { status, .. }
        if (400..500).contains(status) && !matches!(status, 401 | 403 | 408 | 429))
}

/// What this data dir remembers of one server that answered: only those get a queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reached {
    first_reached: DateTime<Utc>,
    /// The server's log id when last seen in a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<Uuid>,
    /// Token fingerprint → the user's name, as the server said.
    #[serde(default)]
    users: std::collections::BTreeMap<String, String>,
}

type Known = std::collections::BTreeMap<String, Reached>;

/// One line of the outbox file: its text as written, and what it says.
struct Line {
    raw: String,
    item: Result<Queued, String>,
}

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    server: String,
    /// This client's token fingerprint.
    me: String,
    path: PathBuf,
    lock_path: PathBuf,
    rejected_path: PathBuf,
}

impl Outbox {
    /// The outbox of `client`'s server in `data_dir`: one file per server, so switching
    /// servers never sends commands to the wrong one, shared by every user of the data dir.
    pub fn open(data_dir: &Path, client: &Client) -> Outbox {
        Outbox::for_token(data_dir, client.base(), &client.token_fingerprint())
    }

    fn for_token(data_dir: &Path, server: &str, me: &str) -> Outbox {
        let server = server.trim_end_matches('/').to_string();
        let name: String = server
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        Outbox {
            dir: data_dir.to_path_buf(),
            server,
            me: me.to_string(),
            path: data_dir.join(format!("outbox-{name}.jsonl")),
            lock_path: data_dir.join(format!("outbox-{name}.lock")),
            rejected_path: data_dir.join(format!("outbox-{name}.rejected.jsonl")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where refused and unreadable lines are kept (append-only, never emptied by warroom).
    pub fn rejected_path(&self) -> &Path {
        &self.rejected_path
    }

    /// The record of servers this data dir has reached.
    pub fn known_path(&self) -> PathBuf {
        self.dir.join("servers.json")
    }

    fn err(&self, path: &Path, detail: impl fmt::Display) -> OutboxError {
        OutboxError::File { path: path.to_path_buf(), detail: detail.to_string() }
    }

    /// Serializes access between this process and any other client on the same data dir.
    fn lock_file(&self, path: &Path) -> Result<File, OutboxError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err(&self.dir, e))?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| self.err(path, e))?;
        f.lock().map_err(|e| self.err(path, e))?;
        Ok(f)
    }

    fn lock(&self) -> Result<File, OutboxError> {
        self.lock_file(&self.lock_path)
    }

    // ---- servers reached -------------------------------------------------------------

    fn load_known(&self) -> Result<Known, OutboxError> {
        let path = self.known_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| self.err(&path, format!("line {} column {}: {e}", e.line(), e.column()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Known::new()),
            Err(e) => Err(self.err(&path, e)),
        }
    }

    /// Records that the server answered this client's token: called on every successful
    /// call (a snapshot gives the log id, whoami or an ack the user's name). Writes only when
    /// something is new, so a command ack costs a read of a small file.
    pub fn reached(&self, log: Option<Uuid>, name: Option<&str>) -> Result<(), OutboxError> {
        let is_current = |known: &Known| {
            known.get(&self.server).is_some_and(|r| {
                log.is_none_or(|l| r.log == Some(l))
                    && name.is_none_or(|n| r.users.get(&self.me).map(String::as_str) == Some(n))
            })
        };
        if is_current(&self.load_known()?) {
            return Ok(());
        }
        let _lock = self.lock_file(&self.dir.join("servers.lock"))?;
        let mut known = self.load_known()?;
        if is_current(&known) {
            return Ok(());
        }
        let entry = known.entry(self.server.clone()).or_insert_with(|| Reached {
            first_reached: Utc::now(),
            log: None,
            users: Default::default(),
        });
        if log.is_some() {
            entry.log = log;
        }
        if let Some(n) = name {
            entry.users.insert(self.me.clone(), n.to_string());
        }
        let text = serde_json::to_string_pretty(&known).map_err(|e| self.err(&self.known_path(), e))?;
        self.replace(&self.known_path(), text.as_bytes())
    }

    /// Whether this server has ever answered a client on this data dir (any user).
    pub fn was_reached(&self) -> Result<bool, OutboxError> {
        Ok(self.load_known()?.contains_key(&self.server))
    }

    /// This client's user name on this server, once the server has said it.
    fn my_name(&self) -> Option<String> {
        // An unreadable record only costs the name; queuing reports the problem.
        self.load_known().ok()?.get(&self.server)?.users.get(&self.me).cloned()
    }

    // ---- the file ----------------------------------------------------------------------

    /// Writes `bytes` to `path` durably and atomically (temp file, fsync, rename).
    fn replace(&self, path: &Path, bytes: &[u8]) -> Result<(), OutboxError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = File::create(&tmp).map_err(|e| self.err(&tmp, e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| self.err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| self.err(path, e))?;
        // The rename itself is durable only once the directory is.
        #[cfg(unix)]
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| self.err(&self.dir, e))?;
        Ok(())
    }

    /// Every line of the outbox, in order. Call with the lock held.
    fn read(&self) -> Result<Vec<Line>, OutboxError> {
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| self.err(&self.path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(&self.path, e)),
        };
        // An unreadable record only costs the names; queuing reports the problem.
        let known = self.load_known().unwrap_or_default();
        let names = known.get(&self.server).map(|r| &r.users);
        let my_name = names.and_then(|n| n.get(&self.me).cloned());
        let text = String::from_utf8_lossy(&bytes);
        let mut pieces: Vec<&str> = text.split('\n').collect();
        // Text after the last newline is an append that never finished: nobody was told it
        // was queued. It is kept, as unreadable, never sent.
        let torn = pieces.pop().filter(|p| !p.trim().is_empty());
        let mut lines = Vec::new();
        for (i, raw) in pieces.into_iter().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let item = parse_line(raw).map_err(|e| format!("line {}: {e}", i + 1)).map(
                |Parsed { owner, at, command }| {
                    let name = owner.as_ref().and_then(|o| {
                        o.name.clone().or_else(|| names.and_then(|n| n.get(&o.token).cloned()))
                    });
                    let yours = owner.as_ref().is_some_and(|o| {
                        o.token == self.me || (name.is_some() && my_name.is_some() && name == my_name)
                    });
                    let who = match (&owner, name) {
                        (None, _) => "unknown owner".to_string(),
                        (Some(_), Some(n)) => n,
                        (Some(o), None) => format!("token {}", o.token.chars().take(8).collect::<String>()),
                    };
                    Queued { queued_by: owner, queued_at: at, who, yours, command }
                },
            );
            lines.push(Line { raw: raw.to_string(), item });
        }
        if let Some(raw) = torn {
            let n = text.split('\n').count();
            lines.push(Line {
                raw: raw.to_string(),
                item: Err(format!("line {n}: torn: no end of line (the append never finished)")),
            });
        }
        Ok(lines)
    }

    /// Rewrites the outbox without the lines of command `remove` (moved to the rejected file
    /// with its reason, when one is given) and without unreadable lines (always moved).
    /// Rejected lines are made durable first, so a crash between the two writes can only
    /// leave a line in both files, never in neither. Call with the lock held.
    fn rewrite(&self, lines: Vec<Line>, remove: Option<(Uuid, Option<&str>)>) -> Result<bool, OutboxError> {
        let now = Utc::now();
        let mut rejected = String::new();
        let mut kept = String::new();
        let mut removed = false;
        for line in lines {
            let why = match (&line.item, remove) {
                (Err(e), _) => Some(format!("unreadable: {e}")),
                (Ok(q), Some((id, why))) if q.command.id == id => {
                    removed = true;
                    match why {
                        Some(w) => Some(w.to_string()),
                        None => continue,
                    }
                }
                _ => None,
            };
            match why {
                Some(why) => {
                    let r = Rejected { at: now, why, line: line.raw };
                    rejected
                        .push_str(&serde_json::to_string(&r).map_err(|e| self.err(&self.rejected_path, e))?);
                    rejected.push('\n');
                }
                None => {
                    kept.push_str(&line.raw);
                    kept.push('\n');
                }
            }
        }
        if !rejected.is_empty() {
            append_line(&self.rejected_path, &rejected).map_err(|e| self.err(&self.rejected_path, e))?;
        }
        self.replace(&self.path, kept.as_bytes())?;
        Ok(removed)
    }

    /// Appends a command durably (fsync) before the user is told it is queued, for a server
    /// this data dir has reached before. Returns what waits now.
    pub fn push(&self, command: &Command) -> Result<Waiting, OutboxError> {
        if !self.was_reached()? {
            return Err(OutboxError::NeverReached { server: self.server.clone(), known: self.known_path() });
        }
        let _lock = self.lock()?;
        let entry = Entry {
            queued_by: Owner { token: self.me.clone(), name: self.my_name() },
            queued_at: Utc::now(),
            command: command.clone(),
        };
        let line = serde_json::to_string(&entry).map_err(|e| self.err(&self.path, e))?;
        append_line(&self.path, &format!("{line}\n")).map_err(|e| self.err(&self.path, e))?;
        Ok(waiting(&self.read()?))
    }

    /// Everything queued, in order, with whose it is.
    pub fn list(&self) -> Result<Listing, OutboxError> {
        let _lock = self.lock()?;
        let mut listing = Listing::default();
        for line in self.read()? {
            match line.item {
                Ok(q) => listing.queued.push(q),
                Err(e) => listing.unreadable.push(e),
            }
        }
        Ok(listing)
    }

    pub fn waiting(&self) -> Result<Waiting, OutboxError> {
        let _lock = self.lock()?;
        Ok(waiting(&self.read()?))
    }

    /// Makes the commands of unknown owner (written before owners were recorded) yours, so
    /// the next flush sends them with your token. Only on the user's word: they may be
    /// someone else's. Returns how many.
    pub fn adopt(&self) -> Result<usize, OutboxError> {
        let _lock = self.lock()?;
        let mut lines = self.read()?;
        let mut adopted = 0;
        let owner = Owner { token: self.me.clone(), name: self.my_name() };
        for line in &mut lines {
            if let Ok(q) = &line.item {
                if q.queued_by.is_none() {
                    let entry =
                        Entry { queued_by: owner.clone(), queued_at: Utc::now(), command: q.command.clone() };
                    line.raw = serde_json::to_string(&entry).map_err(|e| self.err(&self.path, e))?;
                    adopted += 1;
                }
            }
        }
        if adopted > 0 {
            self.rewrite(lines, None)?;
        }
        Ok(adopted)
    }

    /// Takes one of your (or an unknown owner's) commands out, into the rejected file.
    pub fn drop_command(&self, id: Uuid) -> Result<Command, OutboxError> {
        let _lock = self.lock()?;
        let lines = self.read()?;
        let q = lines
            .iter()
            .filter_map(|l| l.item.as_ref().ok())
            .find(|q| q.command.id == id)
            .cloned()
            .ok_or_else(|| OutboxError::NotQueued { id, path: self.path.clone() })?;
        if !q.yours && q.queued_by.is_some() {
            return Err(OutboxError::NotYours { id, who: q.who });
        }
        let me = self.my_name().unwrap_or_else(|| format!("token {}", &self.me[..8.min(self.me.len())]));
        let why = format!("dropped by {me} with `warroom outbox drop`");
        self.rewrite(lines, Some((id, Some(&why))))?;
        Ok(q.command)
    }

    /// Moves unreadable lines to the rejected file; returns how many.
    fn tidy(&self) -> Result<usize, OutboxError> {
        let _lock = self.lock()?;
        let lines = self.read()?;
        let bad = lines.iter().filter(|l| l.item.is_err()).count();
        if bad > 0 {
            self.rewrite(lines, None)?;
        }
        Ok(bad)
    }

    /// Your next command not tried yet in this flush.
    fn next_mine(&self, tried: &HashSet<Uuid>) -> Result<Option<Command>, OutboxError> {
        let _lock = self.lock()?;
        Ok(self
            .read()?
            .into_iter()
            .filter_map(|l| l.item.ok())
            .find(|q| q.yours && !tried.contains(&q.command.id))
            .map(|q| q.command))
    }

    /// Takes a command out once sent (or into the rejected file with `why`).
    fn remove(&self, id: Uuid, why: Option<&str>) -> Result<(), OutboxError> {
        let _lock = self.lock()?;
        let lines = self.read()?;
        self.rewrite(lines, Some((id, why)))?;
        Ok(())
    }

    /// Sends your queued commands in order, never anyone else's, until one cannot be sent:
    /// unreachable, or your token refused (401/403), stops with everything kept. A command
    /// the server refuses for good moves to the rejected file. The file lock is held only
    /// around file access, never across the network, so queuing stays instant while a send
    /// waits on a dead server; a command sent twice by two flushers is applied once thanks
    /// to its idempotency key.
    pub async fn flush(&self, client: &Client) -> Result<Flushed, OutboxError> {
        let mut done = Flushed { rejected_path: self.rejected_path.clone(), ..Flushed::default() };
        done.unreadable = self.tidy()?;
        // Each command is tried at most once per flush: the loop ends even if a removal
        // could not happen (another flusher, a duplicated line).
        let mut tried = HashSet::new();
        while let Some(command) = self.next_mine(&tried)? {
            tried.insert(command.id);
            match client.send(&command).await {
                Ok(ack) => {
                    self.remove(command.id, None)?;
                    if let Some(e) = ack.events.first() {
                        self.reached(None, Some(&e.actor))?;
                    }
                    done.sent.push((command, ack));
                }
                Err(e) if refuses_command(&e) => {
                    let why = format!("refused by {}: {e}", self.server);
                    self.remove(command.id, Some(&why))?;
                    done.refused.push((command, e));
                }
                Err(e) => {
                    done.stopped = Some(e);
                    break;
                }
            }
        }
        done.waiting = self.waiting()?;
        Ok(done)
    }
}

fn waiting(lines: &[Line]) -> Waiting {
    let mut w = Waiting::default();
    for q in lines.iter().filter_map(|l| l.item.as_ref().ok()) {
        w.count(q);
    }
    w
}

/// Appends `text` durably in one write. If the file does not end in a newline (a torn
/// append), one goes first, so the fragment stays its own line and never swallows `text`.
fn append_line(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).read(true).append(true).open(path)?;
    let mut buf = String::with_capacity(text.len() + 1);
    if f.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            buf.push('\n');
        }
    }
    buf.push_str(text);
    f.write_all(buf.as_bytes())?;
    f.sync_all()
}

/// What one readable line says; owner and time are missing from first-format lines.
struct Parsed {
    owner: Option<Owner>,
    at: Option<DateTime<Utc>>,
    command: Command,
}

/// One line: this version's entry, or a bare command of the first format (no owner).
fn parse_line(raw: &str) -> Result<Parsed, String> {
    match serde_json::from_str::<Entry>(raw) {
        Ok(e) => Ok(Parsed { owner: Some(e.queued_by), at: Some(e.queued_at), command: e.command }),
        Err(entry_err) => match serde_json::from_str::<Command>(raw) {
            Ok(command) => Ok(Parsed { owner: None, at: None, command }),
            Err(_) => Err(entry_err.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IncidentId, Intent};

    fn note(text: &str) -> Command {
        Command::new(Intent::AddNote { incident: IncidentId(1), text: text.into() })
    }

    fn outbox(dir: &Path, token: &str) -> Outbox {
        Outbox::for_token(dir, "http://127.0.0.1:7800/", &fingerprint(token))
    }

    #[test]
    fn a_fingerprint_is_16_hex_digits_and_never_the_token() {
        let fp = fingerprint("secret-token");
        assert_eq!(fp.len(), 16);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(fp, fingerprint("secret-token2"));
        // SHA-256("abc") starts ba7816bf8f01cfea.
        assert_eq!(fingerprint("abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn a_server_never_reached_gets_no_queue() {
        let dir = tempfile::tempdir().unwrap();
        let ob = outbox(dir.path(), "t1");
        let err = ob.push(&note("x")).unwrap_err();
        assert!(matches!(err, OutboxError::NeverReached { .. }), "{err}");
        assert!(!ob.path().exists());
        ob.reached(None, None).unwrap();
        assert_eq!(ob.push(&note("x")).unwrap().yours, 1);
    }

    #[test]
    fn each_user_sees_their_own_and_the_others_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (alice, bob) = (outbox(dir.path(), "ta"), outbox(dir.path(), "tb"));
        alice.reached(Some(Uuid::nil()), Some("alice")).unwrap();
        alice.push(&note("a1")).unwrap();
        bob.push(&note("b1")).unwrap();
        let w = bob.push(&note("b2")).unwrap();
        assert_eq!(w.to_string(), "3 (2 yours, 1 alice's)");
        let w = alice.waiting().unwrap();
        assert_eq!(
            w.to_string(),
            "3 (1 yours, 2 by token 26b5c8a3)".replace("26b5c8a3", &fingerprint("tb")[..8])
        );
        // Once the server names bob, alice sees his name.
        bob.reached(None, Some("bob")).unwrap();
        assert_eq!(alice.waiting().unwrap().to_string(), "3 (1 yours, 2 bob's)");
    }

    #[test]
    fn a_torn_last_line_becomes_its_own_unreadable_line() {
        let dir = tempfile::tempdir().unwrap();
        let ob = outbox(dir.path(), "t");
        ob.reached(None, None).unwrap();
        ob.push(&note("one")).unwrap();
        let mut f = OpenOptions::new().append(true).open(ob.path()).unwrap();
        f.write_all(br#"{"queued_by":{"tok"#).unwrap();
        let listing = ob.list().unwrap();
        assert_eq!(listing.queued.len(), 1);
        assert!(listing.unreadable[0].contains("torn"), "{:?}", listing.unreadable);
        ob.push(&note("two")).unwrap();
        let listing = ob.list().unwrap();
        let texts: Vec<_> = listing.queued.iter().map(|q| q.command.id).collect();
        assert_eq!(texts.len(), 2, "the next append is intact");
        assert_eq!(listing.unreadable.len(), 1);
        assert_eq!(ob.tidy().unwrap(), 1);
        let rejected = std::fs::read_to_string(ob.rejected_path()).unwrap();
        let r: Rejected = serde_json::from_str(rejected.trim()).unwrap();
        assert_eq!(r.line, r#"{"queued_by":{"tok"#);
        assert!(r.why.contains("unreadable"), "{}", r.why);
        assert_eq!(ob.list().unwrap().queued.len(), 2);
    }

    #[test]
    fn lines_of_the_first_format_have_an_unknown_owner_until_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let ob = outbox(dir.path(), "t");
        ob.reached(None, None).unwrap();
        let old = note("old");
        std::fs::write(ob.path(), format!("{}\n", serde_json::to_string(&old).unwrap())).unwrap();
        let w = ob.waiting().unwrap();
        assert_eq!((w.yours, w.unknown_owner), (0, 1));
        assert_eq!(w.to_string(), "1 (0 yours, 1 of unknown owner)");
        assert_eq!(ob.adopt().unwrap(), 1);
        let listing = ob.list().unwrap();
        assert!(listing.queued[0].yours);
        assert_eq!(listing.queued[0].command, old);
    }

    #[test]
    fn only_your_own_command_can_be_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (alice, bob) = (outbox(dir.path(), "ta"), outbox(dir.path(), "tb"));
        alice.reached(None, Some("alice")).unwrap();
        let c = note("a");
        alice.push(&c).unwrap();
        assert!(matches!(bob.drop_command(c.id), Err(OutboxError::NotYours { .. })));
        alice.drop_command(c.id).unwrap();
        assert_eq!(alice.waiting().unwrap().total(), 0);
        assert!(std::fs::read_to_string(alice.rejected_path()).unwrap().contains("dropped by alice"));
    }

    #[test]
    fn only_a_refusal_of_the_command_itself_removes_it() {
        let rejected = |status| ClientError::Rejected { status, error: "x".into(), detail: "y".into() };
        for s in [400, 404, 409, 422] {
            assert!(refuses_command(&rejected(s)), "{s}");
        }
        for s in [401, 403, 408, 429] {
            assert!(!refuses_command(&rejected(s)), "{s}");
        }
        assert!(!refuses_command(&ClientError::Unreachable { url: "u".into(), detail: "d".into() }));
        assert!(is_auth(&rejected(401)) && is_auth(&rejected(403)) && !is_auth(&rejected(409)));
    }
}
