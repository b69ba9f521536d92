//! Health probes and status page components: each probe's health in the room, thresholds
//! that stop a flapping service from flapping the room, and the facts a probe change causes.
//! Pure: the server's runner feeds it results (checked with the conditions in `condition`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::incident::snake_enum;

mod condition;
mod spec;
pub use condition::{classify, parse_all, Condition, Observation, Verdict};
pub use spec::{ProbeConfig, ProbeKind, Spec};

snake_enum! {
    /// A service's health as the room sees it.
    Health {
        Up = "up",
        Degraded = "degraded",
        Down = "down",
        Unknown = "unknown",
    } what = "health"
}

impl Health {
    /// Cachet's component status for the public page.
    pub fn component(self) -> &'static str {
        match self {
            Health::Up => "operational",
            Health::Degraded => "performance_issues",
            Health::Down => "major_outage",
            Health::Unknown => "unknown",
        }
    }

    pub fn is_bad(self) -> bool {
        matches!(self, Health::Degraded | Health::Down)
    }
}

/// The room's view after a new sample: thresholds keep one bad (or good) sample from
/// flapping it. `recent` is newest last.
pub fn next_health(
    current: Health,
    recent: &[Health],
    failure_threshold: usize,
    success_threshold: usize,
) -> Health {
    let Some(latest) = recent.last() else { return current };
    let last_n = |n: usize| -> Option<&[Health]> {
        (recent.len() >= n.max(1)).then(|| &recent[recent.len() - n.max(1)..])
    };
    let all = |n: usize, f: &dyn Fn(Health) -> bool| last_n(n).is_some_and(|s| s.iter().all(|h| f(*h)));
    match current {
        Health::Unknown => *latest,
        Health::Up | Health::Degraded if all(failure_threshold, &|h| h == Health::Down) => Health::Down,
        Health::Up if all(failure_threshold, &|h| h != Health::Up) => Health::Degraded,
        Health::Down if all(success_threshold, &|h| h == Health::Up) => Health::Up,
        Health::Down if all(success_threshold, &|h| h != Health::Down) => Health::Degraded,
        Health::Degraded if all(success_threshold, &|h| h == Health::Up) => Health::Up,
        other => other,
    }
}

/// A probe's state in the shared view: only changes are logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeState {
    pub health: Health,
    pub since: DateTime<Utc>,
    /// The failed conditions (with values) that made it bad.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

/// One run of one probe: not logged, kept in a bounded ring and streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub probe: String,
    pub at: DateTime<Utc>,
    /// When it was scheduled to run (for jitter).
    pub scheduled: DateTime<Utc>,
    pub health: Health,
    pub response_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Share of this probe's samples in the last hour that were not down, this one included
    /// (computed by the server from its full ring, so clients need not hold an hour).
    #[serde(default)]
    pub uptime_hour: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_stop_flapping() {
        use Health::*;
        assert_eq!(next_health(Unknown, &[Down], 3, 2), Down);
        assert_eq!(next_health(Up, &[Up, Down], 3, 2), Up);
        assert_eq!(next_health(Up, &[Down, Down], 3, 2), Up);
        assert_eq!(next_health(Up, &[Down, Down, Down], 3, 2), Down);
        assert_eq!(next_health(Up, &[Degraded, Down, Degraded], 3, 2), Degraded);
        assert_eq!(next_health(Down, &[Down, Up], 3, 2), Down);
        assert_eq!(next_health(Down, &[Up, Up], 3, 2), Up);
        assert_eq!(next_health(Down, &[Degraded, Up], 3, 2), Degraded);
        assert_eq!(next_health(Degraded, &[Up, Up], 3, 2), Up);
        assert_eq!(next_health(Degraded, &[Down, Down, Down], 3, 2), Down);
    }
}
