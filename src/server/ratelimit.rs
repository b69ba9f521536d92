//! Commands per user: a token bucket each, so that one runaway script or integration holding
//! a token cannot take the writer, the log and every client's memory for itself. A user may
//! send `burst` commands at once, then `per_second` on average; past that the server answers
//! `429 rate_limited` with `Retry-After`, and the client waits and sends the same command
//! again (its id makes that safe). The emergency stop is never limited.
//!
//! Buckets are kept per configured user, so there are never more of them than users.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Commands one user may send per second, on average, unless `[limits] commands_per_second`
/// says otherwise: far above what people at keyboards send, far below what fills a log.
pub const COMMANDS_PER_SECOND: u32 = 20;
/// Commands one user may send at once unless `[limits] command_burst` says otherwise: a
/// console's or a CLI's outbox flushed after an outage, a script posting a batch of notes.
pub const COMMAND_BURST: u32 = 200;
/// At most one warning per user this often while they are being refused.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub struct CommandRate {
    per_second: f64,
    burst: f64,
    users: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    /// Refused since the last warning, and when that was.
    refused: u64,
    warned: Option<Instant>,
}

/// A refusal: how long until the next command would be taken, and whether to log it now
/// (with how many were refused since the last warning).
#[derive(Debug, PartialEq)]
pub struct Limited {
    pub wait: Duration,
    pub warn: Option<u64>,
}

impl Limited {
    /// The wait as `Retry-After` wants it: whole seconds, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        (self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0)).max(1)
    }
}

impl CommandRate {
    pub fn new(per_second: u32, burst: u32) -> CommandRate {
        CommandRate {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            users: Mutex::default(),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Takes one command of `user`'s at `now`, or says how long until one would be taken.
    pub fn take(&self, user: &str, now: Instant) -> Result<(), Limited> {
        // Counts only: a panic while holding the lock leaves nothing half-done to protect.
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = match users.get_mut(user) {
            Some(b) => b,
            None => users.entry(user.to_string()).or_insert(Bucket {
                tokens: self.burst,
                at: now,
                refused: 0,
                warned: None,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        bucket.refused += 1;
        let warn = match bucket.warned {
            Some(at) if now.saturating_duration_since(at) < WARN_EVERY => None,
            _ => {
                bucket.warned = Some(now);
                Some(std::mem::take(&mut bucket.refused))
            }
        };
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second);
        Err(Limited { wait, warn })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_taken_then_the_rate_and_users_do_not_share_a_bucket() {
        let rate = CommandRate::new(10, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rate.take("ana", t0), Ok(()));
        }
        let refused = rate.take("ana", t0).unwrap_err();
        // One token comes back every 100 ms.
        assert_eq!(refused.wait, Duration::from_millis(100));
        assert_eq!(refused.retry_after_secs(), 1);
        assert_eq!(rate.take("bo", t0), Ok(()), "another user has a bucket of their own");
        assert!(rate.take("ana", t0 + Duration::from_millis(99)).is_err());
        assert_eq!(rate.take("ana", t0 + Duration::from_millis(200)), Ok(()));
        // Idle for an hour: back to the burst, no more.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(rate.take("ana", later), Ok(()));
        }
        assert!(rate.take("ana", later).is_err());
    }

    #[test]
    fn refusals_are_warned_about_once_per_interval_with_their_count() {
        let rate = CommandRate::new(1, 1);
        let t0 = Instant::now();
        assert_eq!(rate.take("ana", t0), Ok(()));
        assert_eq!(rate.take("ana", t0).unwrap_err().warn, Some(1));
        assert_eq!(rate.take("ana", t0).unwrap_err().warn, None);
        assert_eq!(rate.take("ana", t0 + Duration::from_millis(500)).unwrap_err().warn, None);
        // The next warning counts what was refused since the last one, itself included.
        let t1 = t0 + WARN_EVERY + Duration::from_millis(500);
        assert_eq!(rate.take("ana", t1), Ok(()));
        assert_eq!(rate.take("ana", t1).unwrap_err().warn, Some(3));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let l = |ms| Limited { wait: Duration::from_millis(ms), warn: None };
        assert_eq!(l(0).retry_after_secs(), 1);
        assert_eq!(l(1).retry_after_secs(), 1);
        assert_eq!(l(1000).retry_after_secs(), 1);
        assert_eq!(l(1001).retry_after_secs(), 2);
        assert_eq!(l(4500).retry_after_secs(), 5);
    }
}
