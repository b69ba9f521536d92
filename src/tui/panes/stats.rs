//! The stats pane (`S`, `:stats`): median times to detect, acknowledge, mitigate and recover by
//! severity as bar charts, incidents and median recovery per day or week as sparklines, drills
//! vs real and the top failure classes, for a range that `r` or `:stats 7d|30d|90d|all` sets.
//!
//! The figures come from `model::stats` over the console's state. On a year of incidents that
//! is milliseconds, too much for every frame: they are kept with the seq they were computed
//! at, and computed again only when the state moved on, at most every [`MIN_INTERVAL`] (a
//! later frame catches up; the 1 Hz clock draws one), or when the range changes.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Paragraph, Sparkline};
use ratatui::Frame;

use super::frame;
use crate::model::incident::format_duration;
use crate::model::stats::{self, Group, Metric, Since, Stats, NONE};
use crate::model::{Severity, State};
use crate::present::one_line;
use crate::tui::app::{App, Pane};
use crate::tui::theme::Theme;

/// Shortest time between two computations while events stream in.
pub const MIN_INTERVAL: StdDuration = StdDuration::from_millis(250);

/// A range that slides with the clock is computed again after this long even without events,
/// so incidents leave a "last 7 days" when they get older than that.
const SLIDE: Duration = Duration::minutes(1);

/// The pane's range and its last figures.
#[derive(Debug, Clone)]
pub struct StatsPane {
    pub range: Since,
    computed: Option<Computed>,
    /// How many times the figures were computed (tests check the cache with it).
    pub computations: u64,
}

#[derive(Debug, Clone)]
struct Computed {
    seq: u64,
    now: DateTime<Utc>,
    at: Instant,
    stats: Stats,
}

impl Default for StatsPane {
    fn default() -> StatsPane {
        StatsPane { range: Since::Last(Duration::days(30)), computed: None, computations: 0 }
    }
}

impl StatsPane {
    /// The last figures, if any were computed yet.
    pub fn stats(&self) -> Option<&Stats> {
        self.computed.as_ref().map(|c| &c.stats)
    }

    /// Shows another range: its figures are computed before the next frame.
    pub fn set_range(&mut self, range: Since) {
        if range != self.range {
            self.range = range;
            self.computed = None;
        }
    }

    /// `r`: 7d → 30d → 90d → all → 7d.
    pub fn next_range(&mut self) {
        self.set_range(self.range.next_preset());
    }

    /// Whether figures computed at `seq`, `now` are due again at wall time `at`.
    pub fn due(&self, seq: u64, now: DateTime<Utc>, at: Instant) -> bool {
        let Some(c) = &self.computed else { return true };
        let moved = c.seq != seq || now - c.now >= SLIDE || now < c.now;
        moved && at.saturating_duration_since(c.at) >= MIN_INTERVAL
    }

    /// Brings the figures up to date with `state` at `now` when they are due.
    pub fn refresh(&mut self, state: &State, now: DateTime<Utc>) {
        let at = Instant::now();
        if !self.due(state.seq, now, at) {
            return;
        }
        let stats = stats::compute(state, self.range.start(now), now);
        self.computations += 1;
        self.computed = Some(Computed { seq: state.seq, now, at, stats });
    }
}

/// `last 30d`, `since 2026-10-01`, `all time`.
pub fn range_label(range: Since) -> String {
    match range {
        Since::All => "all time".into(),
        Since::Last(_) => format!("last {range}"),
        Since::Date(_) => format!("since {range}"),
    }
}

fn seconds(s: Option<i64>) -> String {
    s.map_or("-".to_string(), |s| format_duration(Duration::seconds(s)))
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let pane = &app.stats;
    let mut title = vec![Span::styled(" Stats ", t.get("title"))];
    if let Some(mark) = super::stale_mark(app) {
        title.push(mark);
    }
    title.push(Span::styled(format!("{} ", range_label(pane.range)), t.get("text")));
    if let Some(since) = pane.stats().and_then(|s| s.since).filter(|_| pane.range != Since::All) {
        title.push(Span::styled(format!("from {} ", since.format("%Y-%m-%d %H:%M UTC")), t.get("muted")));
    }
    let block = frame(app, Pane::Stats, Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let Some(stats) = pane.stats() else {
        f.render_widget(Paragraph::new(Span::styled("counting…", t.get("muted"))), inner);
        return;
    };
    if stats.incidents == 0 {
        let when = match pane.range {
            Since::All => "yet".to_string(),
            Since::Last(_) => format!("in the {}", range_label(pane.range)),
            Since::Date(_) => range_label(pane.range),
        };
        let text = format!("no incidents declared {when} (r: another range)");
        f.render_widget(Paragraph::new(Span::styled(text, t.get("muted"))), inner);
        return;
    }
    if inner.width >= 120 && inner.height >= 34 {
        wide(f, inner, t, stats);
    } else {
        compact(f, inner, t, stats);
    }
}

/// 80×24 and the like: horizontal bars in a 2×2 grid, sparklines side by side, a line of
/// counts and one of failure classes.
fn compact(f: &mut Frame, area: Rect, t: &Theme, stats: &Stats) {
    let [summary, charts, sparks, kinds, classes] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(4),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(summary_line(t, stats), summary);
    let [top, bottom] = Layout::vertical([Constraint::Ratio(1, 2); 2]).areas(charts);
    // Two columns apart, so the longest bar of the left chart does not run into the right one.
    let halves = Layout::horizontal([Constraint::Ratio(1, 2); 2]).spacing(2);
    let cells = [top, bottom].into_iter().flat_map(|row| halves.split(row).to_vec());
    for (i, cell) in cells.enumerate() {
        metric_chart(f, cell, t, stats, i, Direction::Horizontal);
    }
    sparklines(f, sparks, t, stats);
    f.render_widget(kinds_line(t, stats), kinds);
    f.render_widget(classes_line(t, stats), classes);
}

/// 160×48 and up: four vertical bar charts in a row, taller sparklines, and tables of medians
/// by service, by failure class and drill vs real.
fn wide(f: &mut Frame, area: Rect, t: &Theme, stats: &Stats) {
    let rest = area.height.saturating_sub(1);
    let [summary, charts, sparks, tables] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(rest * 2 / 5),
        Constraint::Length(rest / 4),
        Constraint::Min(3),
    ])
    .areas(area);
    f.render_widget(summary_line(t, stats), summary);
    let cells = Layout::horizontal([Constraint::Ratio(1, 4); 4]).split(charts);
    for (i, cell) in cells.iter().enumerate() {
        metric_chart(f, *cell, t, stats, i, Direction::Vertical);
    }
    sparklines(f, sparks, t, stats);
    let columns = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(tables);
    let by_kind_and_severity: Vec<Group> = stats.by_kind.iter().chain(&stats.by_severity).cloned().collect();
    let parts: [(&str, &[Group]); 3] = [
        ("by service", &stats.by_service),
        ("by failure class", &stats.by_failure_class),
        ("drill vs real, by severity", &by_kind_and_severity),
    ];
    for ((title, groups), col) in parts.into_iter().zip(columns.iter()) {
        f.render_widget(Paragraph::new(table(t, title, groups, col.height as usize)), *col);
    }
}

fn summary_line<'a>(t: &Theme, stats: &Stats) -> Line<'a> {
    let mut spans = vec![
        Span::styled(format!("{} incidents", stats.incidents), t.get("title")),
        Span::styled(format!(" · {} open", stats.open), t.get("text")),
    ];
    let drills = if stats.drills == 1 { "drill" } else { "drills" };
    spans.push(Span::styled(format!(" · {} real · {} {drills}", stats.real, stats.drills), t.get("muted")));
    if stats.inconsistent > 0 {
        spans.push(Span::styled(format!(" · {} inconsistent, left out", stats.inconsistent), t.get("warn")));
    }
    Line::from(spans)
}

/// One metric's median by severity: SEV1 first, each bar in its severity's style.
fn metric_chart(f: &mut Frame, area: Rect, t: &Theme, stats: &Stats, which: usize, dir: Direction) {
    // The chart's labels need room; a sliver of a pane draws nothing rather than a panic.
    if area.width < 12 || area.height < 2 {
        return;
    }
    let (name, overall) = stats.overall.metrics()[which];
    let title = Line::from(vec![
        Span::styled(format!("time to {name}"), t.get("section")),
        Span::styled(format!(" median {}", seconds(overall.median_seconds)), t.get("muted")),
    ]);
    let bars: Vec<Bar> = Severity::ALL
        .iter()
        .filter_map(|s| stats.severity(*s).map(|g| (*s, g)))
        .map(|(s, g)| {
            let m: &Metric = g.metrics()[which].1;
            let style = t.severity(s);
            Bar::default()
                .value(m.median_seconds.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
                .text_value(seconds(m.median_seconds))
                .label(Line::styled(s.to_string(), style.remove_modifier(Modifier::REVERSED)))
                .style(style.remove_modifier(Modifier::REVERSED))
                .value_style(style.add_modifier(Modifier::REVERSED))
        })
        .collect();
    let chart = BarChart::default()
        .block(Block::default().title(title))
        .direction(dir)
        .data(BarGroup::default().bars(&bars))
        .label_style(t.get("text"));
    let chart = match dir {
        Direction::Horizontal => chart.bar_width(1).bar_gap(0),
        Direction::Vertical => chart.bar_width(6).bar_gap(2),
    };
    f.render_widget(chart, area);
}

/// Incidents per bucket and their median time to recover: the newest buckets that fit.
fn sparklines(f: &mut Frame, area: Rect, t: &Theme, stats: &Stats) {
    let series = &stats.series;
    let halves = Layout::horizontal([Constraint::Ratio(1, 2); 2]).split(area);
    let (left, right) = (halves[0], halves[1].inner(ratatui::layout::Margin { horizontal: 1, vertical: 0 }));
    let unit = series.bucket.as_str();
    let counts = stretch(&series.incidents, left.width);
    let most = counts.iter().max().copied().unwrap_or(0);
    let title = Line::from(vec![
        Span::styled(format!("incidents per {unit}"), t.get("section")),
        Span::styled(format!(" (most {most})"), t.get("muted")),
    ]);
    f.render_widget(
        Sparkline::default().block(Block::default().title(title)).data(&counts).style(t.get("sev2")),
        left,
    );
    let ttr: Vec<Option<u64>> = stretch(&series.median_time_to_recover_seconds, right.width)
        .into_iter()
        .map(|s| s.map(|s| u64::try_from(s).unwrap_or(0)))
        .collect();
    let longest = series.median_time_to_recover_seconds.iter().flatten().max().copied();
    let title = Line::from(vec![
        Span::styled(format!("median recovery per {unit}"), t.get("section")),
        Span::styled(format!(" (max {})", seconds(longest)), t.get("muted")),
    ]);
    f.render_widget(
        Sparkline::default().block(Block::default().title(title)).data(ttr).style(t.get("ok")),
        right,
    );
}

/// The newest points that fit `width` columns, each drawn `width / points` columns wide so a
/// month of days fills the pane instead of its first thirty columns.
fn stretch<T: Clone>(values: &[T], width: u16) -> Vec<T> {
    let width = usize::from(width);
    let shown = &values[values.len().saturating_sub(width)..];
    let each = (width / shown.len().max(1)).max(1);
    shown.iter().flat_map(|v| std::iter::repeat_n(v.clone(), each)).collect()
}

fn kinds_line<'a>(t: &Theme, stats: &Stats) -> Line<'a> {
    let mut spans = Vec::new();
    for g in &stats.by_kind {
        let style = if g.key == "drill" { t.get("drill") } else { t.get("text") };
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", t.get("muted")));
        }
        spans.push(Span::styled(format!("{} {}", g.key, g.incidents), style));
        spans.push(Span::styled(
            format!(" (recover {})", seconds(g.time_to_recover.median_seconds)),
            t.get("muted"),
        ));
    }
    Line::from(spans)
}

/// The classes most incidents were filed under, then how many have none.
fn classes_line<'a>(t: &Theme, stats: &Stats) -> Line<'a> {
    let mut spans = vec![Span::styled("failure classes ", t.get("section"))];
    let filed: Vec<&Group> = stats.by_failure_class.iter().filter(|g| g.key != NONE).collect();
    if filed.is_empty() {
        spans.push(Span::styled("none filed yet", t.get("muted")));
    }
    for (i, g) in filed.iter().enumerate() {
        let sep = if i == 0 { "" } else { " · " };
        spans.push(Span::styled(format!("{sep}{} {}", one_line(&g.key), g.incidents), t.get("text")));
    }
    if let Some(none) = stats.by_failure_class.iter().find(|g| g.key == NONE) {
        spans.push(Span::styled(format!(" · without {}", none.incidents), t.get("muted")));
    }
    Line::from(spans)
}

/// A table of medians, one group a row, as many rows as fit under its title and header.
fn table<'a>(t: &Theme, title: &str, groups: &[Group], height: usize) -> Vec<Line<'a>> {
    let mut lines = vec![
        Line::from(Span::styled(title.to_string(), t.get("section"))),
        Line::from(Span::styled(
            format!(
                "{:<12} {:>4} {:>7} {:>7} {:>7} {:>7}",
                "median", "n", "detect", "ack", "mitig", "recover"
            ),
            t.get("muted"),
        )),
    ];
    let room = height.saturating_sub(lines.len());
    let cut = groups.len() > room;
    let shown = if cut { room.saturating_sub(1) } else { groups.len() };
    for g in &groups[..shown] {
        let key = one_line(&g.key);
        let key = if key.chars().count() > 12 {
            format!("{}…", key.chars().take(11).collect::<String>())
        } else {
            key
        };
        let [d, a, m, r] = g.metrics().map(|(_, m)| seconds(m.median_seconds));
        let style = match g.key.parse::<Severity>() {
            Ok(s) => t.severity(s),
            Err(_) if g.key == "drill" => t.get("drill"),
            Err(_) => t.get("text"),
        };
        lines.push(Line::from(Span::styled(
            format!("{key:<12} {:>4} {d:>7} {a:>7} {m:>7} {r:>7}", g.incidents),
            style,
        )));
    }
    if cut && room > 0 {
        lines.push(Line::from(Span::styled(format!("… {} more", groups.len() - shown), t.get("muted"))));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_kept_by_seq_and_computed_again_at_most_every_interval() {
        let now: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        let mut pane = StatsPane::default();
        let t0 = Instant::now();
        assert!(pane.due(1, now, t0), "nothing computed yet");
        pane.refresh(&State::default(), now);
        assert_eq!(pane.computations, 1);
        let at = pane.computed.as_ref().unwrap().at;
        // Same seq, same minute: never again, however late.
        assert!(!pane.due(0, now + Duration::seconds(30), at + StdDuration::from_secs(60)));
        // A new seq: only once the interval has passed.
        assert!(!pane.due(5, now, at + StdDuration::from_millis(100)));
        assert!(pane.due(5, now, at + MIN_INTERVAL));
        // The range slides with the clock: a minute later it is due without events.
        assert!(pane.due(0, now + SLIDE, at + MIN_INTERVAL));
        // Another range: at once.
        pane.next_range();
        assert_eq!(pane.range, Since::Last(Duration::days(90)));
        assert!(pane.due(0, now, at));
        pane.set_range(Since::All);
        pane.refresh(&State::default(), now);
        assert_eq!(pane.computations, 2);
        assert_eq!(range_label(pane.range), "all time");
    }

    #[test]
    fn sparklines_keep_the_newest_points_and_widen_few_ones() {
        assert_eq!(stretch(&[1, 2, 3], 7), [1, 1, 2, 2, 3, 3]);
        assert_eq!(stretch(&[1, 2, 3, 4, 5], 3), [3, 4, 5]);
        assert_eq!(stretch::<u64>(&[], 10), Vec::<u64>::new());
        assert_eq!(stretch(&[Some(1), None], 0), Vec::<Option<i32>>::new());
    }
}
