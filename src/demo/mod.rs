//! Demo data for `warroom demo` and `warroom serve --demo`: one user per role with fresh
//! tokens, and a handful of realistic incidents told through ordinary commands.

pub mod shop;

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use color_eyre::eyre::WrapErr;

use crate::config::{ServerConfig, UserConfig};
use crate::model::{Intent, Milestone, Role, Severity, Status, UserRole};
use crate::protocol::Command;
use crate::server::{App, Caller};

pub const DEMO_USERS_FILE: &str = "demo-users.toml";

/// The demo users, one per role, read from the data dir or created there with new tokens.
pub fn users(data_dir: &Path) -> color_eyre::Result<(Vec<UserConfig>, PathBuf)> {
    let path = data_dir.join(DEMO_USERS_FILE);
    if path.exists() {
        let cfg = ServerConfig::load(&path)?;
        return Ok((cfg.users, path));
    }
    let users: Vec<UserConfig> = [
        ("alice", UserRole::Commander),
        ("bob", UserRole::Responder),
        ("carol", UserRole::Responder),
        ("victor", UserRole::Villain),
        ("olivia", UserRole::Observer),
        ("root", UserRole::Admin),
    ]
    .into_iter()
    .map(|(name, role)| UserConfig {
        name: name.into(),
        role,
        token: format!("demo-{}", uuid::Uuid::new_v4().simple()),
    })
    .collect();
    let cfg = ServerConfig { users: users.clone(), ..Default::default() };
    std::fs::create_dir_all(data_dir)?;
    let text = format!(
        "# Demo users for this data dir: one per role. Use a token as WARROOM_TOKEN.\n{}",
        toml::to_string_pretty(&cfg).wrap_err("writing demo users")?
    );
    std::fs::write(&path, text).wrap_err_with(|| format!("writing {}", path.display()))?;
    Ok((users, path))
}

/// The demo's channels: the status page is real (this server's `/status`); the others are
/// dry runs, so a demo never emails anyone.
pub fn channels() -> Vec<crate::config::ChannelConfig> {
    use crate::config::{ChannelConfig, ChannelKind};
    let ch = |name: &str, kind: ChannelKind, audience: crate::model::Audience| ChannelConfig {
        name: name.into(),
        kind,
        audience: Some(audience),
        url: None,
        token: None,
        smtp: None,
        tls: Default::default(),
        from: None,
        recipients_file: None,
        drills: false,
    };
    vec![
        ch("staff", ChannelKind::DryRun, crate::model::Audience::Staff),
        ch("customers", ChannelKind::DryRun, crate::model::Audience::Customers),
        ch("public", ChannelKind::Statuspage, crate::model::Audience::StatusPage),
        ch("socials", ChannelKind::DryRun, crate::model::Audience::Socials),
    ]
}

/// Seeds a few incidents, unless the log already holds one.
pub async fn seed(app: &App, users: &[UserConfig]) -> color_eyre::Result<()> {
    // Seeded before (a restart on the same data dir) when it holds any incident. Not "the
    // log is empty": the demo's probes start with the server, and on a busy machine their
    // first results were written before this ran, so the demo came up with no incidents.
    if !app.hub().state().incidents.is_empty() {
        return Ok(());
    }
    let caller = |name: &str| {
        let u = users.iter().find(|u| u.name == name).unwrap_or(&users[0]);
        Caller { name: u.name.clone(), role: u.role }
    };
    let now = Utc::now();
    let script: Vec<(&str, Intent)> = vec![
        (
            "alice",
            Intent::DeclareIncident {
                title: "Checkout returns 502 for card payments".into(),
                severity: Severity::Sev1,
                impact: "Customers cannot pay by card; ~40% of orders failing since 09:12.".into(),
                drill: false,
                services: vec!["payment".into()],
                private: false,
            },
        ),
        (
            "alice",
            Intent::SetMilestone {
                incident: "INC-1".parse().unwrap(),
                milestone: Milestone::Started,
                time: now - Duration::minutes(23),
            },
        ),
        (
            "alice",
            Intent::SetMilestone {
                incident: "INC-1".parse().unwrap(),
                milestone: Milestone::Detected,
                time: now - Duration::minutes(17),
            },
        ),
        (
            "alice",
            Intent::SetStatus {
                incident: "INC-1".parse().unwrap(),
                status: Status::Investigating,
                reason: None,
            },
        ),
        (
            "alice",
            Intent::AssignRole {
                incident: "INC-1".parse().unwrap(),
                role: Role::Scribe,
                person: "carol".into(),
            },
        ),
        (
            "alice",
            Intent::AssignRole {
                incident: "INC-1".parse().unwrap(),
                role: Role::CustomerLiaison,
                person: "bob".into(),
            },
        ),
        (
            "bob",
            Intent::AddNote {
                incident: "INC-1".parse().unwrap(),
                text: "Staff told in #incidents; customer email queued from the off-platform list.".into(),
            },
        ),
        (
            "carol",
            Intent::AddNote {
                incident: "INC-1".parse().unwrap(),
                text: "PSP gateway answers 502 on /authorize; refunds unaffected.".into(),
            },
        ),
        (
            "bob",
            Intent::DeclareIncident {
                title: "Prices differ between listing and product page".into(),
                severity: Severity::Sev3,
                impact: "Search index sync stalled; listing shows stale prices.".into(),
                drill: false,
                services: vec!["search".into(), "listing".into(), "product-page".into()],
                private: false,
            },
        ),
        (
            "bob",
            Intent::AddNote {
                incident: "INC-2".parse().unwrap(),
                text: "Queue depth 21k and growing; consumer stuck since 08:50.".into(),
            },
        ),
        (
            "bob",
            Intent::SetStatus {
                incident: "INC-2".parse().unwrap(),
                status: Status::Mitigating,
                reason: None,
            },
        ),
        (
            "alice",
            Intent::DeclareIncident {
                title: "Game day: product pages degraded".into(),
                severity: Severity::Sev2,
                impact: "Drill: product pages slow (p95 4s) in region EU.".into(),
                drill: true,
                services: Vec::new(),
                private: false,
            },
        ),
        (
            "carol",
            Intent::DeclareIncident {
                title: "Stock counts wrong for 12 SKUs".into(),
                severity: Severity::Sev4,
                impact: "Overselling risk on a few items.".into(),
                drill: false,
                services: Vec::new(),
                private: false,
            },
        ),
        (
            "carol",
            Intent::AddNote {
                incident: "INC-4".parse().unwrap(),
                text: "#well the warehouse feed had the right counts all along".into(),
            },
        ),
        (
            "carol",
            Intent::AddNote {
                incident: "INC-4".parse().unwrap(),
                text: "#badly nobody is paged when the stock sync falls behind".into(),
            },
        ),
        (
            "carol",
            Intent::SetStatus { incident: "INC-4".parse().unwrap(), status: Status::Mitigated, reason: None },
        ),
        (
            "carol",
            Intent::SetStatus {
                incident: "INC-4".parse().unwrap(),
                status: Status::Closed,
                reason: Some("resolved: counts corrected from the warehouse feed".into()),
            },
        ),
        // A postmortem and its follow-ups, one of them overdue, so `warroom actions`, the
        // stats and the console have something to show.
        (
            "carol",
            Intent::WritePostmortem {
                incident: "INC-4".parse().unwrap(),
                document: crate::model::postmortem::Document {
                    summary: "Stock counts for 12 SKUs drifted after a partial sync; a few items \
                              were oversold before the counts were corrected from the warehouse feed."
                        .into(),
                    failure_class: Some("data".into()),
                    factors: "The stock sync retries silently; nothing alerts on its lag.".into(),
                    well: vec!["the warehouse feed had the right counts all along".into()],
                    badly: vec!["nobody is paged when the stock sync falls behind".into()],
                    lucky: vec!["it happened at night, with little traffic".into()],
                },
                base: Some(0),
            },
        ),
        (
            "carol",
            Intent::AddActionItem {
                incident: "INC-4".parse().unwrap(),
                title: "Alert when the stock sync lags by more than 5 minutes".into(),
                owner: "carol".into(),
                due: Some(now.date_naive() - chrono::Days::new(2)),
                link: Some("https://tracker.example.com/OPS-101".into()),
            },
        ),
        (
            "carol",
            Intent::AddActionItem {
                incident: "INC-4".parse().unwrap(),
                title: "Make the sync's retries visible on the health board".into(),
                owner: "bob".into(),
                due: Some(now.date_naive() + chrono::Days::new(12)),
                link: None,
            },
        ),
    ];
    for (who, intent) in script {
        app.submit(caller(who), Command::new(intent))
            .await
            .map_err(|e| color_eyre::eyre::eyre!("seeding demo data: {e}"))?;
    }
    Ok(())
}

/// What the demo adds to a server so its shop can be probed and broken.
pub struct Wired {
    /// The shop's probes, through the proxies.
    pub probes: Vec<crate::config::ProbeConfig>,
    /// `[chaos]` with the shop's admin API, the proxies and the experiments' environment.
    pub chaos: crate::config::ChaosConfig,
    pub network: std::sync::Arc<crate::server::chaos::network::Network>,
}

/// Puts fault-engine proxies in front of the shop, points its probes through them (so network
/// faults hit what the probes watch), and tells the chaos drivers where the shop is.
pub async fn wire(shop: &shop::Shop, mut chaos: crate::config::ChaosConfig) -> color_eyre::Result<Wired> {
    let proxies = proxies(shop);
    let network = std::sync::Arc::new(
        crate::server::chaos::network::Network::start(&proxies)
            .await
            .map_err(|e| color_eyre::eyre::eyre!(e))?,
    );
    let mut probes = shop.probes();
    for p in &mut probes {
        if let Some(addr) = network.addr(&p.name) {
            p.url = Some(format!("http://{addr}/health"));
        }
    }
    chaos.proxies = proxies
        .into_iter()
        .map(|mut p| {
            p.listen = network.addr(&p.name).map_or(p.listen, |a| a.to_string());
            p
        })
        .collect();
    // One person plays every role in the demo, switching consoles (`U`): the villain's
    // stream closes while they watch the heroes' side, so the dead man waits longer than a
    // shared server's 2 minutes before it rolls back. The shop is local: nothing real breaks.
    chaos.dead_man.get_or_insert(crate::model::playbook::Every(600));
    // The demo driver breaks the shop through its admin API; Chaos Toolkit experiments read
    // where it is from the environment.
    chaos.demo_url = Some(shop.admin_url.clone());
    chaos.demo_token = Some(shop.admin_token.clone());
    chaos.env.insert("SHOP_ADMIN_URL".into(), shop.admin_url.clone());
    chaos.env.insert("SHOP_ADMIN_TOKEN".into(), shop.admin_token.clone());
    for name in shop::SERVICES {
        let key = format!("SHOP_{}_URL", name.to_ascii_uppercase().replace('-', "_"));
        let url = network.addr(name).map(|a| format!("http://{a}")).or_else(|| shop.url(name));
        chaos.env.insert(key, url.unwrap_or_default());
    }
    Ok(Wired { probes, chaos, network })
}

/// A fault-engine proxy in front of each of the shop's services (on a free port), for the
/// `network` chaos driver: the demo's probes go through them.
fn proxies(shop: &shop::Shop) -> Vec<crate::config::ProxyConfig> {
    shop::SERVICES
        .iter()
        .filter_map(|name| {
            let upstream = shop.url(name)?.trim_start_matches("http://").to_string();
            Some(crate::config::ProxyConfig {
                name: name.to_string(),
                listen: "127.0.0.1:0".into(),
                upstream,
            })
        })
        .collect()
}

/// Writes the shipped `slow-network` scenario's `fault` Run document for this demo's proxies
/// (their ports are only known now): latency to the product page, then jitter and resets.
pub fn write_network_run(dir: &Path, proxies: &[crate::config::ProxyConfig]) -> color_eyre::Result<()> {
    let Some(p) = proxies.iter().find(|p| p.name == "product-page") else { return Ok(()) };
    let doc = format!(
        r#"# Written by `warroom demo` for its proxies: a `fault` Run document (https://fault-project.com).
schema_version: 1
name: the network to the product page degrades
proxies:
  - name: product-page
    protocol: tcp
    listen: {listen}
    upstream: {upstream}
phases:
  - name: slow
    duration: 2m
    proxies:
      - proxy: product-page
        faults:
          - type: latency
            flow: to-client
            distribution:
              type: uniform
              min_ms: 400.0
              max_ms: 400.0
  - name: flaky
    proxies:
      - proxy: product-page
        faults:
          - type: latency
            flow: to-client
            distribution:
              type: uniform
              min_ms: 400.0
              max_ms: 400.0
          - type: connection-reset
            flow: to-client
            probability: 0.3
"#,
        listen = p.listen,
        upstream = p.upstream
    );
    std::fs::create_dir_all(dir)?;
    let path = dir.join("demo-network.yaml");
    std::fs::write(&path, doc).wrap_err_with(|| format!("writing {}", path.display()))?;
    Ok(())
}
