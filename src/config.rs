//! Configuration files and paths: the server's (users, tokens, listen address) and the
//! user's console config. Every error names the file, and the line and field when known.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::UserRole;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7800";
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7800";
const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid { path: PathBuf, field: String, message: String },
}

/// Parses TOML and turns toml's error (which knows line and column) into one that names the file.
pub fn parse_toml<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let message = match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {}", e.message())
            }
            None => e.message().to_string(),
        };
        ConfigError::Parse { path: path.to_path_buf(), message }
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub role: UserRole,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    /// Slack/Mattermost-compatible JSON `{"text": …}` to `url`.
    Webhook,
    /// SMTP (lettre) from `from` to every address in `recipients_file`.
    Email,
    /// The server's own public status page.
    Statuspage,
    /// JSON `{"status": …}` to `url` (Mastodon-compatible with `token`).
    Social,
    /// Recorded as sent, never sent: for drills.
    DryRun,
}

impl ChannelKind {
    /// The name as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Email => "email",
            ChannelKind::Statuspage => "statuspage",
            ChannelKind::Social => "social",
            ChannelKind::DryRun => "dry-run",
        }
    }

    pub fn default_audience(self) -> crate::model::Audience {
        use crate::model::Audience;
        match self {
            ChannelKind::Webhook | ChannelKind::DryRun => Audience::Staff,
            ChannelKind::Email => Audience::Customers,
            ChannelKind::Statuspage => Audience::StatusPage,
            ChannelKind::Social => Audience::Socials,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS (the default: mail leaves the machine).
    #[default]
    Starttls,
    /// Plain SMTP, for a relay on the same host.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    /// Who it reaches; defaults from the kind (webhook → staff, email → customers, …).
    pub audience: Option<crate::model::Audience>,
    pub url: Option<String>,
    pub token: Option<String>,
    /// `host:port` of the SMTP server.
    pub smtp: Option<String>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub from: Option<String>,
    /// One address a line, kept outside the platform; relative to the config file.
    pub recipients_file: Option<PathBuf>,
    /// A game-day channel (a drill chat): drills' messages may go out on it. Without it, a
    /// drill's message on a channel that reaches real people is withheld, never sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drills: bool,
}

/// `[[probes]]` entries are plain data the model checks (see `model::probe::Spec`); they live
/// with the model so that it never depends on this module.
pub use crate::model::probe::{ProbeConfig, ProbeKind};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Where the log lives: `postgres://user:pass@host/db` for a database several servers
    /// share; unset, SQLite in the data dir (one server).
    pub store: Option<String>,
    /// How people reach this server from outside (for `{{status_page_url}}`).
    pub public_url: Option<String>,
    /// More playbooks, besides the shipped ones and `playbooks/` in the config dir.
    pub playbooks_dir: Option<PathBuf>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    #[serde(default, skip_serializing_if = "LimitsConfig::is_empty")]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub chaos: ChaosConfig,
    #[serde(default)]
    pub gameday: GamedayConfig,
    /// `[postmortem]`: `required` severities (SEV1, SEV2), `drills`, `failure_classes`.
    #[serde(default)]
    pub postmortem: crate::model::postmortem::Settings,
    /// `[metrics]`: where Prometheus scrapes without a token.
    #[serde(default, skip_serializing_if = "MetricsConfig::is_empty")]
    pub metrics: MetricsConfig,
}

/// `[metrics]`: `/metrics` is always served to admins' bearer tokens on the API's address;
/// `listen` serves it without a token on an address of its own (one only the monitoring
/// network reaches, e.g. `127.0.0.1:9100`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: Option<String>,
}

impl MetricsConfig {
    fn is_empty(&self) -> bool {
        *self == MetricsConfig::default()
    }
}

/// `[gameday]`: how game days are scored and announced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GamedayConfig {
    /// Points per part of a response (`[gameday.weights]`: detect, mitigate, comms_first,
    /// hint, postmortem); fixed in each game day when it is created.
    #[serde(default)]
    pub weights: crate::model::gameday::Weights,
    /// Named in an informed game day's kick-off messages (`production`, `staging`).
    pub environment: Option<String>,
    /// The channel an informed game day's kick-off messages are posted to (a channel that
    /// takes drills: `drills = true`, a dry run or the status page).
    pub kickoff_channel: Option<String>,
}

/// `[chaos]`: where the scenarios are and how the drivers reach what they break. Only what is
/// written here (and in the scenario files) is ever run: a client names a scenario id only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosConfig {
    /// More scenario files, besides the shipped ones and `chaos/` in the config dir.
    pub scenarios_dir: Option<PathBuf>,
    /// Every run is rolled back when no villain or admin has had a console or stream connected
    /// for this long [default: 2m].
    pub dead_man: Option<crate::model::playbook::Every>,
    /// The demo shop's admin API, for the `demo` driver (`warroom demo` fills it in).
    pub demo_url: Option<String>,
    pub demo_token: Option<String>,
    /// The Chaos Toolkit CLI for the `chaostoolkit` driver [default: `chaos` on the PATH].
    pub chaos_cli: Option<PathBuf>,
    /// Proxies the `network` driver puts faults on (`fault` Run documents name them).
    #[serde(default, rename = "proxy")]
    pub proxies: Vec<ProxyConfig>,
    /// Environment given to Chaos Toolkit experiments (their `configuration` entries of
    /// `type: env`): the URLs and tokens of what they break.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
}

/// A TCP proxy in front of a service: clients (and probes) connect to `listen`, it forwards to
/// `upstream`, and a `network` scenario adds latency, resets or blackholes on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    pub name: String,
    pub listen: String,
    pub upstream: String,
}

/// `[limits]`: what one connection or one user may hold, so nobody can starve the room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections served at once [default: the open-file limit less a tenth, at most 4,096, for headroom].
    pub max_connections: Option<usize>,
    /// From connect to a complete request head [default: 10s].
    pub header_timeout: Option<crate::model::playbook::Every>,
    /// Between requests, on a connection that never showed a valid token [default: 10s].
    pub idle_timeout: Option<crate::model::playbook::Every>,
    /// Event streams one user may hold open at once [default: 50].
    pub streams_per_user: Option<usize>,
    /// Commands one user may send per second, on average [default: 20].
    pub commands_per_second: Option<u32>,
    /// Commands one user may send at once, before `commands_per_second` applies [default: 200].
    pub command_burst: Option<u32>,
    /// How long a stop (SIGTERM, Ctrl-C) may take before what is left is cut [default: 10s].
    pub shutdown_grace: Option<crate::model::playbook::Every>,
}

impl LimitsConfig {
    fn is_empty(&self) -> bool {
        *self == LimitsConfig::default()
    }
}

impl ServerConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config: ServerConfig = parse_toml(path, &read(path)?)?;
        config.validate(path)?;
        // Files named in the config are relative to it.
        let base = path.parent().unwrap_or(Path::new("."));
        for c in &mut config.channels {
            if let Some(f) = &c.recipients_file {
                if f.is_relative() {
                    c.recipients_file = Some(base.join(f));
                }
            }
        }
        if let Some(d) = &config.playbooks_dir {
            if d.is_relative() {
                config.playbooks_dir = Some(base.join(d));
            }
        }
        Ok(config)
    }

    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |i: usize, field: &str, message: String| ConfigError::Invalid {
            path: path.into(),
            field: format!("users[{i}].{field}"),
            message,
        };
        if self.metrics.listen.as_ref().is_some_and(|l| l.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                path: path.into(),
                field: "metrics.listen".into(),
                message: "must not be empty (leave it out to serve /metrics to admins only)".into(),
            });
        }
        if self.data_dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(ConfigError::Invalid {
                path: path.into(),
                field: "data_dir".into(),
                message: "must not be empty (leave it out for the platform's data dir)".into(),
            });
        }
        if let Some(store) = &self.store {
            if !is_postgres_url(store) {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: "store".into(),
                    message: "must be a postgres:// URL (leave it out for SQLite in the data dir)".into(),
                });
            }
            if let Err(e) = store.parse::<postgres::Config>() {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: "store".into(),
                    message: format!("`{}` is not a PostgreSQL URL: {e}", redact_url(store)),
                });
            }
        }
        let mut tokens = HashSet::new();
        let mut names = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if u.name.trim().is_empty() {
                return Err(invalid(i, "name", "must not be empty".into()));
            }
            if !names.insert(u.name.as_str()) {
                return Err(invalid(i, "name", format!("`{}` appears twice", u.name)));
            }
            // Characters, not bytes: nine `é` are 18 bytes but a 9-character token.
            if u.token.chars().count() < MIN_TOKEN_LEN || u.token.chars().any(char::is_whitespace) {
                return Err(invalid(
                    i,
                    "token",
                    format!("must be at least {MIN_TOKEN_LEN} characters with no spaces"),
                ));
            }
            if !tokens.insert(u.token.as_str()) {
                return Err(invalid(i, "token", "is the same as another user's".into()));
            }
        }
        for (field, value) in [
            ("max_connections", self.limits.max_connections),
            ("streams_per_user", self.limits.streams_per_user),
            ("commands_per_second", self.limits.commands_per_second.map(|n| n as usize)),
            ("command_burst", self.limits.command_burst.map(|n| n as usize)),
        ] {
            if value == Some(0) {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: format!("limits.{field}"),
                    message: "must be at least 1".into(),
                });
            }
        }
        let mut probes = HashSet::new();
        for (i, p) in self.probes.iter().enumerate() {
            if !probes.insert(p.name.as_str()) {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: format!("probes[{i}].name"),
                    message: format!("`{}` appears twice", p.name),
                });
            }
            crate::model::probe::Spec::from_config(p).map_err(|(field, message)| ConfigError::Invalid {
                path: path.into(),
                field: format!("probes[{i}] ({}).{field}", p.name),
                message,
            })?;
        }
        let mut channels = HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            let bad = |field: &str, message: String| ConfigError::Invalid {
                path: path.into(),
                field: format!("channels[{i}].{field}"),
                message,
            };
            if c.name.trim().is_empty() || c.name.contains(char::is_whitespace) {
                return Err(bad("name", "must be a non-empty word".into()));
            }
            if !channels.insert(c.name.as_str()) {
                return Err(bad("name", format!("`{}` appears twice", c.name)));
            }
            let need = |field: &str, v: &Option<String>| match v {
                Some(s) if !s.trim().is_empty() => Ok(()),
                _ => Err(bad(field, format!("a {} channel needs it", c.kind.as_str()))),
            };
            match c.kind {
                ChannelKind::Webhook | ChannelKind::Social => {
                    need("url", &c.url)?;
                    let url = c.url.as_deref().unwrap_or("");
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(bad("url", format!("`{url}` is not an http(s) URL")));
                    }
                }
                ChannelKind::Email => {
                    need("smtp", &c.smtp)?;
                    need("from", &c.from)?;
                    if c.recipients_file.is_none() {
                        return Err(bad("recipients_file", "an email channel needs it".into()));
                    }
                }
                ChannelKind::Statuspage | ChannelKind::DryRun => {}
            }
        }
        Ok(())
    }
}

/// The console/CLI user's own file: `config.toml` in the config dir.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub server: Option<String>,
    pub token: Option<String>,
    pub theme: Option<String>,
    /// Whether the console rings the terminal bell for a SEV1 or a role given to you
    /// (default on; `warroom tui --quiet` turns it off for one session).
    pub bell: Option<bool>,
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, String>,
}

impl ClientConfig {
    /// Loads the user's config, or the defaults when there is no file yet.
    pub fn load_default() -> Result<Self, ConfigError> {
        let path = config_dir().join("config.toml");
        if !path.exists() {
            return Ok(ClientConfig::default());
        }
        parse_toml(&path, &read(&path)?)
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "warroom")
}

/// `WARROOM_CONFIG_DIR`, else the platform's config dir (`~/.config/warroom` on Linux).
pub fn config_dir() -> PathBuf {
    // An empty variable is unset, as for PATH-like variables: never "the current directory".
    if let Some(dir) = std::env::var_os("WARROOM_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    project_dirs().map_or_else(|| PathBuf::from(".warroom"), |d| d.config_dir().to_path_buf())
}

/// `WARROOM_DATA_DIR`, else the platform's data dir: client outboxes and the server's store.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WARROOM_DATA_DIR").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    project_dirs().map_or_else(|| PathBuf::from(".warroom-data"), |d| d.data_dir().to_path_buf())
}

/// Whether `store` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// What a PostgreSQL `url` names, without any password (in the authority or `?password=`), for
/// messages and logs: user, hosts, ports and database as the driver reads them.
pub fn redact_url(url: &str) -> String {
    let Ok(config) = url.parse::<postgres::Config>() else {
        return "(a store URL that does not parse)".into();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_is_shown_without_its_password_in_any_form() {
        for (url, shown) in [
            ("postgres://wr:s3cret@db.internal:5433/warroom", "postgres://wr@db.internal:5433/warroom"),
            ("postgresql://wr@db/warroom?password=s3cret", "postgres://wr@db:5432/warroom"),
            ("postgresql://wr:s3cret@/warroom?host=/run/postgresql", "postgres://wr@/run/postgresql/warroom"),
            ("postgres://wr:s3cret@db:notaport/warroom", "(a store URL that does not parse)"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("s3cret"));
        }
    }

    #[test]
    fn a_typo_in_the_server_config_names_file_and_line() {
        let text = "listen = \"127.0.0.1:1\"\n[[users]]\nname = \"a\"\nrole = \"commander\"\ntokn = \"x\"\n";
        let err = parse_toml::<ServerConfig>(Path::new("/etc/warroom.toml"), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/etc/warroom.toml: line 5:"), "{msg}");
        assert!(msg.contains("tokn"), "{msg}");
    }

    #[test]
    fn weak_or_shared_tokens_are_refused_by_field() {
        let mut c = ServerConfig {
            users: vec![
                UserConfig { name: "a".into(), role: UserRole::Commander, token: "0123456789abcdef".into() },
                UserConfig { name: "b".into(), role: UserRole::Observer, token: "short".into() },
            ],
            ..Default::default()
        };
        let msg = c.validate(Path::new("w.toml")).unwrap_err().to_string();
        assert_eq!(msg, "w.toml: users[1].token: must be at least 16 characters with no spaces");
        c.users[1].token = "ééééééééé".into();
        let msg = c.validate(Path::new("w.toml")).unwrap_err().to_string();
        assert!(msg.contains("users[1].token"), "18 bytes but 9 characters: {msg}");
        c.users[1].token = c.users[0].token.clone();
        assert!(c.validate(Path::new("w.toml")).unwrap_err().to_string().contains("another user's"));
        let bad_role = "[[users]]\nname = \"a\"\nrole = \"boss\"\ntoken = \"0123456789abcdef\"\n";
        let msg = parse_toml::<ServerConfig>(Path::new("w.toml"), bad_role).unwrap_err().to_string();
        assert!(msg.contains("line 3") && msg.contains("boss"), "{msg}");
    }

    #[test]
    fn an_empty_data_dir_is_refused_not_taken_as_the_current_directory() {
        let c = ServerConfig { data_dir: Some(PathBuf::new()), ..Default::default() };
        let msg = c.validate(Path::new("w.toml")).unwrap_err().to_string();
        assert!(msg.starts_with("w.toml: data_dir: must not be empty"), "{msg}");
    }

    #[test]
    fn limits_are_read_and_a_zero_cap_is_refused_by_field() {
        let text = "[limits]\nheader_timeout = \"5s\"\nstreams_per_user = 3\n";
        let c = parse_toml::<ServerConfig>(Path::new("w.toml"), text).unwrap();
        assert_eq!(c.limits.header_timeout, Some(crate::model::playbook::Every(5)));
        assert_eq!((c.limits.streams_per_user, c.limits.max_connections), (Some(3), None));
        let zero = "[limits]\nmax_connections = 0\n";
        let c = parse_toml::<ServerConfig>(Path::new("w.toml"), zero).unwrap();
        let msg = c.validate(Path::new("w.toml")).unwrap_err().to_string();
        assert_eq!(msg, "w.toml: limits.max_connections: must be at least 1");
        let rate = "[limits]\ncommands_per_second = 5\ncommand_burst = 0\n";
        let c = parse_toml::<ServerConfig>(Path::new("w.toml"), rate).unwrap();
        assert_eq!(c.limits.commands_per_second, Some(5));
        let msg = c.validate(Path::new("w.toml")).unwrap_err().to_string();
        assert_eq!(msg, "w.toml: limits.command_burst: must be at least 1");
        let negative = "[limits]\ncommands_per_second = -1\n";
        let msg = parse_toml::<ServerConfig>(Path::new("w.toml"), negative).unwrap_err().to_string();
        assert!(msg.starts_with("w.toml: line 2:") && msg.contains("-1"), "{msg}");
        let typo = "[limits]\nheader_timout = \"5s\"\n";
        let msg = parse_toml::<ServerConfig>(Path::new("w.toml"), typo).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("header_timout"), "{msg}");
    }

    #[test]
    fn the_metrics_address_is_read_and_an_empty_one_is_refused_by_field() {
        let text = "[metrics]\nlisten = \"127.0.0.1:9100\"\n";
        let c = parse_toml::<ServerConfig>(Path::new("w.toml"), text).unwrap();
        assert_eq!(c.metrics.listen.as_deref(), Some("127.0.0.1:9100"));
        let empty = parse_toml::<ServerConfig>(Path::new("w.toml"), "[metrics]\nlisten = \" \"\n").unwrap();
        let msg = empty.validate(Path::new("w.toml")).unwrap_err().to_string();
        assert!(msg.starts_with("w.toml: metrics.listen: must not be empty"), "{msg}");
        let typo = "[metrics]\nlisen = \"127.0.0.1:9100\"\n";
        let msg = parse_toml::<ServerConfig>(Path::new("w.toml"), typo).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("lisen"), "{msg}");
    }
}
