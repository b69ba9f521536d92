//! The health board: every probe with its state glyph and colour, last latency, a latency
//! sparkline, uptime over the last hour, the failed condition, and a bad service's incidents.

use chrono::Duration;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::frame;
use crate::model::probe::Health;
use crate::present::one_line;
use crate::protocol::ProbeView;
use crate::tui::app::{App, Pane};

pub fn glyph(h: Health) -> &'static str {
    match h {
        Health::Up => "●",
        Health::Degraded => "◐",
        Health::Down => "✖",
        Health::Unknown => "○",
    }
}

/// The last `width` latencies as block characters, scaled between their minimum and maximum
/// so the shape shows (a steady service is a flat low line).
pub fn sparkline(p: &ProbeView, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail: Vec<u64> = p.samples.iter().rev().take(width).map(|s| s.response_ms).collect();
    let (min, max) = (tail.iter().copied().min().unwrap_or(0), tail.iter().copied().max().unwrap_or(0));
    let span = (max - min).max(1);
    let mut s: String = tail.iter().rev().map(|v| BARS[(((*v - min) * 7) / span).min(7) as usize]).collect();
    while s.chars().count() < width {
        s.insert(0, ' ');
    }
    s
}

/// Uptime over the last hour, as the server computed it with the latest sample (the console
/// holds only recent samples); none once the latest sample is over an hour old.
pub fn uptime(p: &ProbeView, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
    p.samples.last().filter(|s| now - s.at <= Duration::hours(1)).map(|s| s.uptime_hour)
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let health_of = |name: &str| app.state.probes.get(name).map_or(Health::Unknown, |p| p.health);
    let count = |h: Health| app.probes.iter().filter(|p| health_of(&p.name) == h).count();
    let (bad, waiting) = (count(Health::Degraded) + count(Health::Down), count(Health::Unknown));
    let mut title = vec![Span::styled(" Health ", t.get("title"))];
    let stale = app.stale().is_some();
    if let (Some(mark), false) = (super::stale_mark(app), app.probes.is_empty()) {
        // No verdict from an old picture: "5 up" in green while the server was gone misled.
        title.push(Span::styled(format!("{} probes, last known ", app.probes.len()), t.get("muted")));
        title.push(mark);
    } else if app.probes.is_empty() {
        title.push(Span::styled("no probes configured ", t.get("muted")));
    } else if bad > 0 {
        title.push(Span::styled(format!("{bad} of {} bad ", app.probes.len()), t.get("alert")));
    } else if waiting > 0 {
        title
            .push(Span::styled(format!("{waiting} of {} not probed yet ", app.probes.len()), t.get("muted")));
    } else {
        title.push(Span::styled(format!("{} up ", app.probes.len()), t.get("ok")));
    }
    let block = frame(app, Pane::Health, Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let name_w = app.probes.iter().map(|p| p.name.chars().count()).max().unwrap_or(4).min(18);
    let spark_w = if inner.width > 90 { 24 } else { 10 };
    if inner.height == 0 {
        return;
    }
    let header = format!(
        "{:<10} {:<name_w$} {:>7} {:<spark_w$} {:>6}  WHY / INCIDENTS",
        "STATE", "NAME", "LATENCY", "TREND", "UP 1h"
    );
    f.render_widget(Span::styled(header, t.get("muted")), Rect { height: 1, ..inner });
    let inner = Rect { y: inner.y + 1, height: inner.height - 1, ..inner };
    // Worst first. Only the rows that fit are built: each scans up to an hour of samples.
    let order = app.probe_order();
    let skip = (app.probe + 1).saturating_sub(inner.height as usize);
    let lines: Vec<Line> = order
        .iter()
        .enumerate()
        .skip(skip)
        .take(inner.height as usize)
        .map(|(i, at)| (i, &app.probes[*at]))
        .map(|(i, p)| {
            let state = app.state.probes.get(&p.name);
            let health = state.map_or(Health::Unknown, |s| s.health);
            let style = match health {
                _ if stale => t.get("muted"),
                Health::Up => t.get("ok"),
                Health::Degraded => t.get("warn"),
                Health::Down => t.get("alert"),
                Health::Unknown => t.get("muted"),
            };
            let last = p.samples.last();
            let latency = last.map_or("–".to_string(), |s| format!("{}ms", s.response_ms));
            let up = uptime(p, app.now).map_or("  –  ".to_string(), |u| format!("{u:5.1}%"));
            let mut spans = vec![
                Span::styled(format!("{} {:<8} ", glyph(health), health.as_str()), style),
                Span::styled(format!("{:<name_w$.name_w$} ", one_line(&p.name)), t.get("text")),
                Span::styled(format!("{latency:>7} "), t.get("muted")),
                Span::styled(sparkline(p, spark_w), style),
                Span::styled(format!(" {up} "), t.get("muted")),
            ];
            if health.is_bad() {
                let why =
                    state.and_then(|s| s.failed.first()).or_else(|| last.and_then(|s| s.failed.first()));
                if let Some(why) = why {
                    spans.push(Span::styled(one_line(why), style));
                }
                let linked: Vec<String> = app
                    .state
                    .incidents
                    .values()
                    .filter(|inc| inc.status.is_open() && inc.services.contains(&p.name))
                    .map(|inc| inc.id.to_string())
                    .collect();
                let tail = if linked.is_empty() {
                    "  i declares".to_string()
                } else {
                    format!("  {}", linked.join(" "))
                };
                spans.push(Span::styled(tail, t.get("warn")));
            }
            let line = Line::from(spans);
            if i == app.probe && app.focus == Pane::Health {
                line.style(t.get("selection"))
            } else {
                line
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
