//! A probe's checked definition: one `[[probes]]` entry with its conditions parsed and its
//! times resolved. Pure, so the config check and the server's runner share one judgement.

use std::time::Duration;

use super::{parse_all, Condition};
use crate::model::Severity;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    #[default]
    Http,
    Tcp,
}

impl ProbeKind {
    /// The name as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
        }
    }
}

/// One `[[probes]]` entry of the server config, as written (see [`Spec`] for the checked form).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Also the component name on the status page and the service incidents link to.
    pub name: String,
    #[serde(default)]
    pub kind: ProbeKind,
    pub url: Option<String>,
    /// `host:port`, for tcp probes.
    pub address: Option<String>,
    #[serde(default = "default_interval")]
    pub interval: crate::model::playbook::Every,
    #[serde(default = "default_timeout")]
    pub timeout: crate::model::playbook::Every,
    #[serde(default)]
    pub conditions: Vec<String>,
    #[serde(default)]
    pub degraded: Vec<String>,
    #[serde(default = "default_failures")]
    pub failure_threshold: usize,
    #[serde(default = "default_successes")]
    pub success_threshold: usize,
    pub auto_declare: Option<crate::model::Severity>,
    /// Milliseconds instead of `interval`/`timeout`, for fast tests and benchmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

fn default_interval() -> crate::model::playbook::Every {
    crate::model::playbook::Every(30)
}
fn default_timeout() -> crate::model::playbook::Every {
    crate::model::playbook::Every(5)
}
fn default_failures() -> usize {
    3
}
fn default_successes() -> usize {
    2
}

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
