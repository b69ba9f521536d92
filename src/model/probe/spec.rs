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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str) -> Result<Spec, (String, String)> {
        let c: ProbeConfig = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"));
        Spec::from_config(&c)
    }

    fn field(r: Result<Spec, (String, String)>) -> String {
        r.map(|s| s.name).unwrap_or_else(|(f, _)| f)
    }

    #[test]
    fn a_bad_probe_entry_names_its_field() {
        assert_eq!(field(check(r#"name = "api""#)), "url");
        assert_eq!(
            field(check(
                r#"name = "api"
url = "ftp://x""#
            )),
            "url"
        );
        assert_eq!(
            field(check(
                r#"name = "db"
kind = "tcp""#
            )),
            "address"
        );
        assert_eq!(
            field(check(
                r#"name = "two words"
url = "http://x""#
            )),
            "name"
        );
        assert_eq!(
            field(check(
                r#"name = "api"
url = "http://x"
conditions = ["[STATUS] 200"]"#
            )),
            "conditions"
        );
        assert_eq!(
            field(check(
                r#"name = "api"
url = "http://x"
interval_ms = 10"#
            )),
            "interval"
        );
        assert_eq!(
            field(check(
                r#"name = "api"
url = "http://x"
success_threshold = 0"#
            )),
            "failure_threshold"
        );
    }

    #[test]
    fn a_probe_without_conditions_checks_what_its_kind_can_see() {
        let http = check(
            r#"name = "api"
url = "https://x/health""#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let tcp = check(
            r#"name = "db"
kind = "tcp"
address = "127.0.0.1:5432"
timeout_ms = 200"#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(http.conditions.iter().map(|c| c.text()).collect::<Vec<_>>(), ["[STATUS] == 200"]);
        assert_eq!(tcp.conditions.iter().map(|c| c.text()).collect::<Vec<_>>(), ["[CONNECTED] == true"]);
        assert_eq!((http.interval, http.timeout), (Duration::from_secs(30), Duration::from_secs(5)));
        assert_eq!((tcp.target.as_str(), tcp.timeout), ("127.0.0.1:5432", Duration::from_millis(200)));
    }
}
