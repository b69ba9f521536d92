//! A probe's checked definition: one `[[probes]]` entry with its conditions parsed and its
//! times resolved. Pure, so the config check and the server's runner share one judgement.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{parse_all, Condition};
use crate::model::playbook::{parse_go_duration, DurationError};
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

/// A probe's `interval` or `timeout`, written as Gatus writes it: Go's duration syntax
/// (`500ms`, `30s`, `1m30s`, `1h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProbeDuration(pub Duration);

impl ProbeDuration {
    pub const fn from_secs(secs: u64) -> ProbeDuration {
        ProbeDuration(Duration::from_secs(secs))
    }
}

impl FromStr for ProbeDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<ProbeDuration, String> {
        let too_long = || format!("`{s}` is too long a duration");
        let nanos = parse_go_duration(s).map_err(|e| match e {
            DurationError::TooLong => too_long(),
            DurationError::NotADuration => format!("`{s}` is not a duration (like 500ms, 30s, 1m30s)"),
        })?;
        if nanos <= 0 {
            return Err(format!("`{s}` must be more than zero"));
        }
        u64::try_from(nanos).map(|n| ProbeDuration(Duration::from_nanos(n))).map_err(|_| too_long())
    }
}

impl TryFrom<String> for ProbeDuration {
    type Error = String;
    fn try_from(s: String) -> Result<ProbeDuration, String> {
        s.parse()
    }
}

impl From<ProbeDuration> for String {
    fn from(d: ProbeDuration) -> String {
        d.to_string()
    }
}

impl fmt::Display for ProbeDuration {
    /// In the same syntax, so a config written back reads the same.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos.is_multiple_of(1_000_000_000) {
            let secs = self.0.as_secs();
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            if h > 0 {
                write!(f, "{h}h")?;
            }
            if m > 0 {
                write!(f, "{m}m")?;
            }
            if s > 0 || secs == 0 {
                write!(f, "{s}s")?;
            }
            Ok(())
        } else if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", nanos / 1_000_000)
        } else {
            write!(f, "{nanos}ns")
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
    /// `http(s)://…`, or Gatus's `tcp://host:port` (which makes it a tcp probe).
    pub url: Option<String>,
    /// `host:port`, for tcp probes.
    pub address: Option<String>,
    #[serde(default = "default_interval")]
    pub interval: ProbeDuration,
    #[serde(default = "default_timeout")]
    pub timeout: ProbeDuration,
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

fn default_interval() -> ProbeDuration {
    ProbeDuration::from_secs(30)
}
fn default_timeout() -> ProbeDuration {
    ProbeDuration::from_secs(5)
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
        // Gatus says what a probe is by its URL's scheme: `tcp://host:port` is a tcp probe.
        let tcp_url = c.url.as_deref().and_then(|u| u.strip_prefix("tcp://"));
        let kind = if tcp_url.is_some() { ProbeKind::Tcp } else { c.kind };
        let target = match kind {
            ProbeKind::Http => {
                let url = c.url.clone().ok_or_else(|| bad("url", "an http probe needs a url".into()))?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(bad(
                        "url",
                        format!("`{url}` is not an http(s) URL (warroom probes http://, https:// and tcp://host:port)"),
                    ));
                }
                url
            }
            ProbeKind::Tcp => {
                let (field, address) = match (tcp_url, &c.address, &c.url) {
                    (Some(_), Some(_), _) => {
                        return Err(bad(
                            "address",
                            "give `url = \"tcp://host:port\"` or `address`, not both".into(),
                        ))
                    }
                    (Some(a), None, _) => ("url", a.to_string()),
                    (None, Some(a), None) => ("address", a.clone()),
                    (None, _, Some(u)) => {
                        return Err(bad("url", format!("`{u}` is not tcp://host:port, for a tcp probe")))
                    }
                    (None, None, None) => return Err(bad("address", "a tcp probe needs host:port".into())),
                };
                let port = address.rsplit_once(':').filter(|(host, _)| !host.is_empty());
                if port.and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
                    return Err(bad(field, format!("`{address}` is not host:port")));
                }
                address
            }
        };
        let defaults = match kind {
            ProbeKind::Http => vec!["[STATUS] == 200".to_string()],
            ProbeKind::Tcp => vec!["[CONNECTED] == true".to_string()],
        };
        let texts = if c.conditions.is_empty() { defaults } else { c.conditions.clone() };
        let conditions = parse_all(&texts).map_err(|e| bad("conditions", e))?;
        let degraded = parse_all(&c.degraded).map_err(|e| bad("degraded", e))?;
        // A tcp check has no status or body: a condition on them could never hold.
        if kind == ProbeKind::Tcp {
            for (field, list) in [("conditions", &conditions), ("degraded", &degraded)] {
                if let Some(c) = list.iter().find(|c| c.needs_http()) {
                    return Err(bad(
                        field,
                        format!("`{}`: a tcp probe has no [STATUS] or [BODY] (it sees [CONNECTED], [IP] and [RESPONSE_TIME])", c.text()),
                    ));
                }
            }
        }
        if c.failure_threshold == 0 || c.success_threshold == 0 {
            return Err(bad("failure_threshold", "thresholds are at least 1".into()));
        }
        let interval = c.interval_ms.map(Duration::from_millis).unwrap_or(c.interval.0);
        let timeout = c.timeout_ms.map(Duration::from_millis).unwrap_or(c.timeout.0);
        if interval < Duration::from_millis(50) {
            return Err(bad("interval", "at least 50 ms".into()));
        }
        Ok(Spec {
            name: c.name.clone(),
            kind,
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

    #[test]
    fn gatus_forms_read_durations_and_tcp_urls() {
        let s = check(
            r#"name = "db"
url = "tcp://db.internal:5432"
interval = "1.5s"
timeout = "250ms"
conditions = ["[CONNECTED] == true", "[RESPONSE_TIME] < 100ms"]"#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((s.kind, s.target.as_str()), (ProbeKind::Tcp, "db.internal:5432"));
        assert_eq!((s.interval, s.timeout), (Duration::from_millis(1500), Duration::from_millis(250)));
        let refused = |text: &str| check(text).err().unwrap_or_else(|| panic!("{text} loaded"));
        let tcp = "name = \"db\"\nurl = \"tcp://127.0.0.1:5432\"\n";
        assert_eq!(refused(&format!("{tcp}address = \"127.0.0.1:1\"")).0, "address");
        assert!(refused(&format!("{tcp}conditions = [\"[BODY] == OK\"]"))
            .1
            .contains("no [STATUS] or [BODY]"));
        assert!(refused(&format!("{tcp}degraded = [\"[STATUS] < 500\"]"))
            .1
            .contains("no [STATUS] or [BODY]"));
        assert_eq!(refused("name = \"db\"\nurl = \"tcp://db\"").0, "url");
        assert_eq!(refused("name = \"db\"\nkind = \"tcp\"\naddress = \"db:x\"").0, "address");
        assert_eq!(refused("name = \"db\"\nkind = \"tcp\"\nurl = \"http://x\"").0, "url");
        assert!(refused("name = \"dns\"\nurl = \"udp://1.1.1.1:53\"").1.contains("tcp://host:port"));
        // A duration that does not read fails in the TOML reader, which names the line.
        for bad in ["0s", "5", "5 s", "-1s"] {
            let text = format!("name = \"api\"\nurl = \"http://x\"\ninterval = \"{bad}\"");
            assert!(toml::from_str::<ProbeConfig>(&text).is_err(), "{bad}");
        }
        for (text, shown) in [("1m30s", "1m30s"), ("500ms", "500ms"), ("90s", "1m30s"), ("1.5us", "1500ns")] {
            assert_eq!(text.parse::<ProbeDuration>().map(|d| d.to_string()), Ok(shown.to_string()));
        }
    }
}
