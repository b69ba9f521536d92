//! `warroom stats`: how many incidents were declared in a range, and their median and p90 times
//! to detect, acknowledge, mitigate and recover, overall and by severity, service, failure
//! class and drill vs real — from the client's synced state, as tables or `--json`.

use chrono::Utc;
use clap::Args;

use super::{connect, Connection};
use crate::model::incident::format_duration;
use crate::model::stats::{self, Group, Metric, Since, Stats};
use crate::present::{json_safe, one_line};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Incidents declared since: a span back from now (12h, 30d, 2w), a day (YYYY-MM-DD, from
    /// its midnight UTC), or `all`
    #[arg(long, default_value = "30d", value_name = "SPAN|DATE|all")]
    pub since: Since,
}

pub(super) async fn stats(conn: &Connection, json: bool, args: StatsArgs) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    // What you queued offline is sent first, so the figures include it.
    super::outbox::flush_first(&client).await?;
    let state = super::snapshot(&client).await?;
    let now = Utc::now();
    let stats = stats::compute(&state, args.since.start(now), now);
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(&stats)?));
        return Ok(());
    }
    for line in table(&stats, args.since) {
        out!("{line}");
    }
    Ok(())
}

/// Group names are cut to this many characters so the table fits 80 columns.
const KEY: usize = 14;

/// The human report, a line each (the caller escapes them on the way out).
pub fn table(stats: &Stats, since: Since) -> Vec<String> {
    let range = match stats.since {
        None => "all incidents".to_string(),
        Some(at) => format!("incidents declared since {} ({since})", at.format("%Y-%m-%d %H:%M UTC")),
    };
    if stats.incidents == 0 {
        return vec![format!("{range}: none")];
    }
    let mut lines = vec![format!(
        "{range}: {} — {} real, {} drill{}, {} open",
        stats.incidents,
        stats.real,
        stats.drills,
        if stats.drills == 1 { "" } else { "s" },
        stats.open
    )];
    lines.push(String::new());
    let header = format!(
        "{:<KEY$} {:>5}  {:^13}  {:^13}  {:^13}  {:^13}",
        "time to", "", "detect", "acknowledge", "mitigate", "recover"
    );
    lines.push(header.trim_end().to_string());
    let sub = format!("{:>6} {:>6}", "median", "p90");
    lines.push(format!("{:<KEY$} {:>5}  {sub}  {sub}  {sub}  {sub}", "", "n"));
    lines.push(row(&stats.overall));
    let sections: [(&str, &[Group]); 4] = [
        ("by severity", &stats.by_severity),
        ("by service", &stats.by_service),
        ("by failure class", &stats.by_failure_class),
        ("drill vs real", &stats.by_kind),
    ];
    for (title, groups) in sections {
        lines.push(title.to_string());
        lines.extend(groups.iter().map(row));
    }
    lines.push(String::new());
    lines.extend(left_out(stats));
    let series = &stats.series;
    lines.push(format!(
        "incidents per {}, oldest first: {}  (most: {})",
        series.bucket.as_str(),
        spark(&series.incidents),
        series.incidents.iter().max().unwrap_or(&0)
    ));
    lines
}

/// One group: its name, its incidents, and each metric's median and p90.
fn row(g: &Group) -> String {
    let key = one_line(&g.key);
    let key = if key.chars().count() > KEY {
        format!("{}…", key.chars().take(KEY - 1).collect::<String>())
    } else {
        key
    };
    let cells: Vec<String> = g.metrics().iter().map(|(_, m)| cell(m)).collect();
    format!("{key:<KEY$} {:>5}  {}", g.incidents, cells.join("  "))
}

fn cell(m: &Metric) -> String {
    let show =
        |s: Option<i64>| s.map_or("–".to_string(), |s| format_duration(chrono::Duration::seconds(s)));
    format!("{:>6} {:>6}", show(m.median_seconds), show(m.p90_seconds))
}

/// What the medians leave out, overall: incidents lacking a milestone, and inconsistent ones.
fn left_out(stats: &Stats) -> Vec<String> {
    let needs = [
        "started and detected",
        "declared and acknowledged",
        "declared and mitigated",
        "started and recovered",
    ];
    let mut lines = Vec::new();
    for ((name, m), needs) in stats.overall.metrics().iter().zip(needs) {
        if m.missing == 0 && m.inconsistent == 0 {
            continue;
        }
        let mut why = Vec::new();
        if m.missing > 0 {
            why.push(format!("{} lack {needs}", m.missing));
        }
        if m.inconsistent > 0 {
            why.push(format!(
                "{} inconsistent (a milestone before the one it is measured from)",
                m.inconsistent
            ));
        }
        lines.push(format!("time to {name}: {} measured; {}", m.n, why.join(", ")));
    }
    lines
}

/// A one-line sparkline of `values` (the last 60 when there are more).
fn spark(values: &[u64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown = &values[values.len().saturating_sub(60)..];
    let max = shown.iter().copied().max().unwrap_or(0).max(1);
    shown
        .iter()
        .map(|v| if *v == 0 { ' ' } else { LEVELS[((v * 8).div_ceil(max) - 1).min(7) as usize] })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparks_scale_to_the_largest_and_show_nothing_for_zero() {
        assert_eq!(spark(&[0, 1, 7, 14]), " ▁▄█");
        assert_eq!(spark(&[]), "");
        assert_eq!(spark(&[0, 0]), "  ");
        assert_eq!(spark(&vec![1; 100]).chars().count(), 60);
    }
}
