//! A probe's checked definition: one `[[probes]]` entry with its conditions parsed and its
//! times resolved. Pure, so the config check and the server's runner share one judgement.

use std::time::Duration;

use super::{parse_all, Condition};
use crate::config::{ProbeConfig, ProbeKind};
use crate::model::Severity;

/// A probe as checked from its config: conditions parsed, times resolved.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub kind: ProbeKind,
    pub target: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub conditions: Vec<Condition>,
    pub degraded: Vec<Condition>,
    pub failure_threshold: usize,
    pub success_threshold: usize,
    pub auto_declare: Option<Severity>,
}

impl Spec {
    /// Checks one `[[probes]]` entry; the error names the field.
    pub fn from_config(c: &ProbeConfig) -> Result<Spec, (String, String)> {
        let bad = |f: &str, m: String| (f.to_string(), m);
        if c.name.trim().is_empty() || c.name.contains(char::is_whitespace) {
            return Err(bad("name", "must be a non-empty word".into()));
        }
        let target = match c.kind {
            ProbeKind::Http => {
                let url = c.url.clone().ok_or_else(|| bad("url", "an http probe needs a url".into()))?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(bad("url", format!("`{url}` is not an http(s) URL")));
                }
                url
            }
            ProbeKind::Tcp => {
                c.address.clone().ok_or_else(|| bad("address", "a tcp probe needs host:port".into()))?
            }
        };
        let defaults = match c.kind {
            ProbeKind::Http => vec!["[STATUS] == 200".to_string()],
            ProbeKind::Tcp => vec!["[CONNECTED] == true".to_string()],
        };
        let texts = if c.conditions.is_empty() { defaults } else { c.conditions.clone() };
        let conditions = parse_all(&texts).map_err(|e| bad("conditions", e))?;
        let degraded = parse_all(&c.degraded).map_err(|e| bad("degraded", e))?;
        if c.failure_threshold == 0 || c.success_threshold == 0 {
            return Err(bad("failure_threshold", "thresholds are at least 1".into()));
        }
        let interval =
            c.interval_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(c.interval.0 as u64));
        let timeout =
            c.timeout_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(c.timeout.0 as u64));
        if interval < Duration::from_millis(50) {
            return Err(bad("interval", "at least 50 ms".into()));
        }
        Ok(Spec {
            name: c.name.clone(),
            kind: c.kind,
            target,
            interval,
            timeout,
            conditions,
            degraded,
            failure_threshold: c.failure_threshold,
            success_threshold: c.success_threshold,
            auto_declare: c.auto_declare,
        })
    }
}
