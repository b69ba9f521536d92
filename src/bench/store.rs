//! The shared store's cost: the same throughput and visibility runs on SQLite (one server) and on
//! PostgreSQL with one and with three servers, side by side, each on a fresh log.
//!
//! `--store postgres://…` names a server and a role that may `CREATE DATABASE`: each run gets a
//! database of its own (`warroom_bench_<pid>_<n>`), dropped after it.

use std::time::Duration;

use color_eyre::eyre::{eyre, WrapErr};

use super::{bench_server, declare_bench, ms, server, BenchArgs, TOKEN};
use crate::client::Client;
use crate::config::UserConfig;
use crate::model::UserRole;

/// Runs of each configuration; the medians are reported.
const RUNS: usize = 3;

/// One configuration's medians.
struct Row {
    name: String,
    per_s: f64,
    p50: Duration,
    p99: Duration,
    visible_p99: Duration,
}

pub(super) async fn store(args: &BenchArgs, url: &str) -> color_eyre::Result<()> {
    let fsync = {
        let dir = tempfile::tempdir()?;
        super::year::fsyncs_per_s(dir.path())?
    };
    println!("store: this machine's disk does {fsync:.0} fsyncs/s (4 KiB append + fdatasync); PostgreSQL's own disk may differ");
    let mut rows = Vec::new();
    for (name, servers) in
        [("SQLite, 1 server", 0), ("PostgreSQL, 1 server", 1), ("PostgreSQL, 3 servers", 3)]
    {
        let mut runs = Vec::new();
        for run in 0..RUNS {
            println!("store: {name}, run {}", run + 1);
            runs.push(if servers == 0 {
                sqlite_run(args).await?
            } else {
                pg_run(args, url, servers, run).await?
            });
        }
        rows.push(median(name, runs));
    }
    println!();
    println!("| store | durable commands/s | ack p50 | ack p99 | visible on every subscriber p99 |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!("| {} | {:.0} | {} | {} | {} |", r.name, r.per_s, ms(r.p50), ms(r.p99), ms(r.visible_p99));
    }
    println!(
        "store: medians of {RUNS} runs; {} writers × {} commands; visibility at {}/s for {} s to {} subscribers",
        args.writers, args.per_writer, args.rate, args.seconds, args.subscribers
    );
    Ok(())
}

fn median(name: &str, mut runs: Vec<(server::Load, Duration)>) -> Row {
    let mid = runs.len() / 2;
    runs.sort_by(|a, b| a.0.per_s.total_cmp(&b.0.per_s));
    let per_s = runs[mid].0.per_s;
    let mut p50: Vec<Duration> = runs.iter().map(|r| r.0.p50).collect();
    let mut p99: Vec<Duration> = runs.iter().map(|r| r.0.p99).collect();
    let mut vis: Vec<Duration> = runs.iter().map(|r| r.1).collect();
    p50.sort();
    p99.sort();
    vis.sort();
    Row { name: name.into(), per_s, p50: p50[mid], p99: p99[mid], visible_p99: vis[mid] }
}

async fn sqlite_run(args: &BenchArgs) -> color_eyre::Result<(server::Load, Duration)> {
    let dir = tempfile::tempdir()?;
    let s = bench_server(dir.path()).await?;
    let urls = vec![s.url()];
    declare_bench(&Client::new(&urls[0], TOKEN)?).await?;
    let load = server::throughput(&urls, args).await?;
    let seen = server::visibility(&urls, args).await?;
    s.stop().await;
    Ok((load, seen.p99))
}

async fn pg_run(
    args: &BenchArgs,
    url: &str,
    servers: usize,
    run: usize,
) -> color_eyre::Result<(server::Load, Duration)> {
    let db = format!("warroom_bench_{}_{servers}_{run}", std::process::id());
    let admin = url.to_string();
    let created = {
        let (admin, db) = (admin.clone(), db.clone());
        tokio::task::spawn_blocking(move || create_database(&admin, &db)).await??
    };
    let result = async {
        let dirs: Vec<tempfile::TempDir> =
            (0..servers).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
        let mut running = Vec::new();
        for d in &dirs {
            running.push(
                crate::server::start(crate::server::ServerOptions {
                    listen: "127.0.0.1:0".into(),
                    data_dir: d.path().to_path_buf(),
                    users: vec![UserConfig {
                        name: "bench".into(),
                        role: UserRole::Admin,
                        token: TOKEN.into(),
                    }],
                    streams_per_user: usize::MAX,
                    commands_per_second: u32::MAX,
                    command_burst: u32::MAX,
                    store: Some(created.clone()),
                    ..Default::default()
                })
                .await?,
            );
        }
        let urls: Vec<String> = running.iter().map(|s| s.url()).collect();
        declare_bench(&Client::new(&urls[0], TOKEN)?).await?;
        let load = server::throughput(&urls, args).await?;
        let seen = server::visibility(&urls, args).await?;
        for s in running {
            s.stop().await;
        }
        Ok::<_, color_eyre::Report>((load, seen.p99))
    }
    .await;
    tokio::task::spawn_blocking(move || drop_database(&admin, &db)).await??;
    result
}

/// Makes database `db` on the server `admin` names; the URL of it.
fn create_database(admin: &str, db: &str) -> color_eyre::Result<String> {
    let mut client = postgres::Client::connect(admin, postgres::NoTls)
        .wrap_err_with(|| format!("connecting to {}", crate::config::redact_url(admin)))?;
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .wrap_err_with(|| format!("CREATE DATABASE {db} (the --store role needs CREATEDB)"))?;
    let mut url = reqwest::Url::parse(admin).map_err(|e| eyre!("--store: {e}"))?;
    url.set_path(&format!("/{db}"));
    Ok(url.to_string())
}

fn drop_database(admin: &str, db: &str) -> color_eyre::Result<()> {
    let mut client = postgres::Client::connect(admin, postgres::NoTls)?;
    // The servers' pooled connections may still be closing.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))?;
    Ok(())
}
