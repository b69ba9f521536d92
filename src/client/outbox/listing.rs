//! What a look at the outbox tells: whose each queued command is, how many wait and whose,
//! what one flush did, and the lines taken out of it.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::is_auth;
use crate::client::ClientError;
use crate::protocol::{Ack, Command};

/// Who queued a command: the token's fingerprint and, when the server has told this client,
/// the user's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One queued command as `warroom outbox list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    /// `None`: written before owners were recorded; sent only once someone adopts it.
    pub queued_by: Option<Owner>,
    pub queued_at: Option<DateTime<Utc>>,
    /// Whose it is, for people: a name, `token 1a2b3c4d`, or `unknown owner`.
    pub who: String,
    /// Queued with this client's token, or by the same user under an older token.
    pub yours: bool,
    pub command: Command,
}

/// Everything in the outbox file, in order.
#[derive(Debug, Default, Serialize)]
pub struct Listing {
    pub queued: Vec<Queued>,
    /// Lines nobody can read ("line 3: …"): moved to the rejected file by the next flush.
    pub unreadable: Vec<String>,
}

/// How many commands wait, and whose.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub yours: usize,
    /// Other owners in the order their first command waits: (who, how many).
    pub others: Vec<(String, usize)>,
    pub unknown_owner: usize,
}

impl Waiting {
    pub fn total(&self) -> usize {
        self.yours + self.unknown_owner + self.others.iter().map(|(_, n)| n).sum::<usize>()
    }

    pub(super) fn count(&mut self, q: &Queued) {
        if q.yours {
            self.yours += 1;
        } else if q.queued_by.is_none() {
            self.unknown_owner += 1;
        } else if let Some(other) = self.others.iter_mut().find(|(who, _)| *who == q.who) {
            other.1 += 1;
        } else {
            self.others.push((q.who.clone(), 1));
        }
    }
}

/// "3 (1 yours, 2 bob's)"; the parts only when someone else's commands wait too.
impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        write!(f, "{total}")?;
        if total == 0 {
            return Ok(());
        }
        let mut parts = vec![format!("{} yours", self.yours)];
        for (who, n) in &self.others {
            parts.push(if who.starts_with("token ") {
                format!("{n} by {who}")
            } else {
                format!("{n} {who}'s")
            });
        }
        if self.unknown_owner > 0 {
            parts.push(format!("{} of unknown owner", self.unknown_owner));
        }
        write!(f, " ({})", parts.join(", "))
    }
}

/// What one flush did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub sent: Vec<(Command, Ack)>,
    /// Refused for good by the server (a 4xx about the command itself): moved to the
    /// rejected file, to be shown to the user.
    pub refused: Vec<(Command, ClientError)>,
    /// Lines nobody can read (a torn append, corruption): moved to the rejected file.
    pub unreadable: usize,
    /// Why flushing stopped early, when it did; your commands from there on stay queued.
    pub stopped: Option<ClientError>,
    pub waiting: Waiting,
    pub rejected_path: PathBuf,
}

impl Flushed {
    /// The server refused the token (401) or its user's right to act (403): nothing was
    /// removed, and the user must fix the token before anything of theirs can be sent.
    pub fn stopped_on_auth(&self) -> bool {
        self.stopped.as_ref().is_some_and(is_auth)
    }

    /// "sent 2, refused 1 (moved to …), waiting 3 (1 yours, 2 bob's)".
    pub fn summary(&self) -> String {
        let mut text = format!("sent {}, refused {}", self.sent.len(), self.refused.len());
        if !self.refused.is_empty() {
            text.push_str(&format!(" (moved to {})", self.rejected_path.display()));
        }
        if self.unreadable > 0 {
            text.push_str(&format!(
                ", {} unreadable line{} moved to {}",
                self.unreadable,
                if self.unreadable == 1 { "" } else { "s" },
                self.rejected_path.display()
            ));
        }
        text.push_str(&format!(", waiting {}", self.waiting));
        text
    }
}

/// One line of the rejected file: what was taken out of the outbox, why and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejected {
    pub at: DateTime<Utc>,
    pub why: String,
    /// The outbox line exactly as it was, so nothing is lost.
    pub line: String,
}
