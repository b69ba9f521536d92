//! The scoreboard pane: the newest game day (name, style, stage, time played) and its board as
//! the server lets this user see it: teams ranked, per scenario TTD/TTM, comms first, hints, points.

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::frame;
use crate::model::gameday::score::{Board, Cell, ScenarioScore};
use crate::model::gameday::{GameDay, Stage};
use crate::present::one_line;
use crate::tui::app::{App, Pane};

/// `m:ss` up to 99:59, then `1h40`: a time always fits five columns.
pub fn clock(secs: u64) -> String {
    if secs < 100 * 60 {
        format!("{}:{:02}", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}", secs / 3600, secs / 60 % 60)
    }
}

/// How long the game day has been played: from its start to its end (or now).
pub fn played(g: &GameDay, now: DateTime<Utc>) -> Option<String> {
    let start = g.started_at?;
    let end = g.ended_at.unwrap_or(now);
    Some(clock(u64::try_from((end - start).num_seconds()).unwrap_or(0)))
}

/// A scenario's column title: `#n title`, or `Scenario #n` while the board is concealed.
pub fn column_title(s: &ScenarioScore, concealed: bool) -> String {
    match (&s.title, concealed) {
        (Some(title), false) => format!("#{} {}", s.plan, one_line(title)),
        _ => format!("Scenario #{}", s.plan),
    }
}

/// How wide one scenario's column is drawn: with a hints column when there is room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    Wide,
    Compact,
}

impl Width {
    fn cols(self) -> usize {
        match self {
            // "│ " TTD " " TTM " " ✓ " " hh " " pts
            Width::Wide => 23,
            // "│" TTD " " TTM " " ✓ pts
            Width::Compact => 18,
        }
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let g = app.shown_gameday();
    let mut title = vec![Span::styled(" Scoreboard ", t.get("title"))];
    if let Some(mark) = super::stale_mark(app) {
        title.push(mark);
    }
    if let Some(g) = g {
        title.push(Span::styled(format!("{} {} ", g.id, one_line(&g.name)), t.get("text")));
    }
    let block = frame(app, Pane::Scoreboard, Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let view = app.board.view.as_ref();
    let mut lines: Vec<Line> = Vec::new();
    match g {
        Some(g) => lines.push(about(app, g)),
        None if view.is_none() && app.board.error.is_none() && app.board.asked.is_some() => {
            lines.push(Line::from(Span::styled("asking the server for the board…", t.get("muted"))));
        }
        None if app.board.error.is_none() => {
            lines.push(Line::from(Span::styled("no game day yet", t.get("muted"))));
            lines.push(Line::from(Span::styled(
                "an admin (the game master) creates one: :gameday create NAME --style informed|dungeons_and_dragons|fire_drill",
                t.get("muted"),
            )));
        }
        None => {}
    }
    if let Some(why) = &app.board.error {
        let old = if view.is_some() { " (showing the last answer)" } else { "" };
        lines.push(Line::from(Span::styled(
            format!("✖ cannot get the board: {}{old}", one_line(why)),
            t.get("alert"),
        )));
    }
    if let Some(url) = view.and_then(|v| v.share_url.as_deref()) {
        lines.push(Line::from(vec![
            Span::styled("big screen (read-only link): ", t.get("muted")),
            Span::styled(one_line(url), t.get("text")),
        ]));
    }
    let board = view.and_then(|v| v.board.as_ref()).filter(|b| g.is_none_or(|g| g.id == b.gameday));
    if let Some(why) = view.and_then(|v| v.board_hidden.as_deref()) {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(one_line(why), t.get("warn"))));
        if let Some(g) = g {
            lines.extend(teams_without_board(app, g));
        }
    } else if let Some(board) = board {
        lines.push(Line::default());
        let used = lines.len();
        lines.extend(table(app, board, inner, used));
    } else if g.is_some() && view.is_none() && app.board.error.is_none() {
        lines.push(Line::from(Span::styled("asking the server for the board…", t.get("muted"))));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// `fire_drill · running · played 12:04 · 3 teams`.
fn about(app: &App, g: &GameDay) -> Line<'static> {
    let t = &app.theme;
    let stage_style = match g.stage {
        Stage::Running => t.get("villain"),
        Stage::Debrief => t.get("warn"),
        Stage::Planned | Stage::Finished => t.get("muted"),
    };
    let mut spans = vec![
        Span::styled(g.style.to_string(), t.get("text")),
        Span::styled(" · ", t.get("border")),
        Span::styled(g.stage.to_string(), stage_style),
    ];
    match played(g, app.now) {
        Some(p) if g.stage == Stage::Running => spans.push(Span::styled(format!(" {p}"), stage_style)),
        Some(p) => spans.push(Span::styled(format!(" · played {p}"), t.get("muted"))),
        None => spans.push(Span::styled(" · not started", t.get("muted"))),
    }
    let players: usize = g.teams.values().map(|t| t.members.len()).sum();
    spans.push(Span::styled(
        format!(
            " · {}, {} · game master {}",
            count(g.teams.len(), "team"),
            count(players, "player"),
            one_line(&g.master)
        ),
        t.get("muted"),
    ));
    Line::from(spans)
}

/// `1 team`, `3 teams`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// With no board to show, who plays in which team.
fn teams_without_board(app: &App, g: &GameDay) -> Vec<Line<'static>> {
    let t = &app.theme;
    let me = app.my_name();
    g.teams
        .values()
        .map(|team| {
            let mine = me.is_some_and(|m| team.members.contains(m));
            let members: Vec<String> = team.members.iter().map(|m| one_line(m)).collect();
            Line::from(vec![
                Span::styled(if mine { "★ " } else { "  " }, t.get("focus")),
                Span::styled(format!("{} ", one_line(&team.name)), t.get("text")),
                Span::styled(members.join(", "), t.get("muted")),
            ])
        })
        .collect()
}

/// The board as a table (teams by rank, one column per scenario), then its scenarios and a
/// legend. `used` rows of the pane are taken above it.
fn table(app: &App, board: &Board, inner: Rect, used: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let me = app.my_name();
    let team_w = board.teams.iter().map(|s| s.team.chars().count()).max().unwrap_or(4).clamp(6, 18);
    // "  1. ★ " TEAM " " POINTS
    let fixed = 7 + team_w + 7;
    let room = (inner.width as usize).saturating_sub(fixed);
    let n = board.scenarios.len();
    let width = if n * Width::Wide.cols() <= room { Width::Wide } else { Width::Compact };
    let shown = (room / width.cols()).min(n);
    let scenarios = &board.scenarios[..shown];

    let mut lines = Vec::new();
    let mut head = vec![Span::styled(format!("{:<w$}", "RANK  TEAM", w = 7 + team_w), t.get("muted"))];
    head.push(Span::styled(format!(" {:>6}", "POINTS"), t.get("muted")));
    let mut sub = vec![Span::raw(" ".repeat(fixed))];
    for s in scenarios {
        let title_w = width.cols() - 2;
        let title: String = column_title(s, board.concealed).chars().take(title_w).collect();
        head.push(Span::styled(if width == Width::Wide { "│ " } else { "│" }, t.get("border")));
        let pad = if width == Width::Wide { title_w } else { title_w + 1 };
        head.push(Span::styled(format!("{title:<pad$}"), t.get("title")));
        let labels = match width {
            Width::Wide => format!("{:>5} {:>5} {} {:<2} {:>4}", "TTD", "TTM", "c", "h", "pts"),
            Width::Compact => format!("{:>5} {:>5} {}{:>4}", "TTD", "TTM", "c", "pts"),
        };
        sub.push(Span::styled(if width == Width::Wide { "│ " } else { "│" }, t.get("border")));
        sub.push(Span::styled(labels, t.get("muted")));
    }
    if shown < n {
        head.push(Span::styled(format!(" +{} (z: zoom)", n - shown), t.get("muted")));
    }
    lines.push(Line::from(head));
    lines.push(Line::from(sub));

    if board.teams.is_empty() {
        lines.push(Line::from(Span::styled(
            "  no teams yet: the game master adds them (:team add NAME), players join (:team join NAME)",
            t.get("muted"),
        )));
    }
    let below = 1 + board.scenarios.len() + 3;
    let rows = (inner.height as usize).saturating_sub(used + 2 + below).max(3);
    let skip = (app.board.sel + 1).saturating_sub(rows);
    for (i, team) in board.teams.iter().enumerate().skip(skip).take(rows) {
        let mine = me.is_some_and(|m| team.members.iter().any(|x| x == m));
        let points_style = if team.rank == 1 && team.points > 0 { t.get("ok") } else { t.get("title") };
        let mut spans = vec![
            Span::styled(format!("{:>3}. ", team.rank), t.get("muted")),
            Span::styled(if mine { "★ " } else { "  " }, t.get("focus")),
            Span::styled(format!("{:<team_w$.team_w$}", one_line(&team.team)), t.get("text")),
            Span::styled(format!(" {:>6}", team.points), points_style),
        ];
        for (s, cell) in scenarios.iter().zip(&team.cells) {
            spans.extend(cell_spans(app, s, cell, width));
        }
        if team.general_hints > 0 {
            spans.push(Span::styled(format!("  +{} general hint(s)", team.general_hints), t.get("warn")));
        }
        let line = Line::from(spans);
        lines.push(if i == app.board.sel && app.focus == Pane::Scoreboard && !app.solo {
            line.style(t.get("selection"))
        } else {
            line
        });
    }
    if scenarios.iter().any(|s| s.resilience.is_some()) {
        let mut spans = vec![Span::styled(format!("{:<fixed$}", "  resilience"), t.get("muted"))];
        for s in scenarios {
            let value = s.resilience.map_or("–".to_string(), |r| format!("{r:.0}%"));
            let style = match s.resilience {
                Some(r) if r >= 100.0 => t.get("ok"),
                Some(_) => t.get("warn"),
                None => t.get("muted"),
            };
            spans.push(Span::styled(if width == Width::Wide { "│ " } else { "│" }, t.get("border")));
            let w = width.cols() - if width == Width::Wide { 2 } else { 1 };
            spans.push(Span::styled(format!("{value:>w$}"), style));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::default());
    for s in &board.scenarios {
        lines.push(scenario_line(app, s, board.concealed));
    }
    lines.push(Line::from(Span::styled(
        "TTD/TTM time to detect/mitigate from the inject · c ✓ communicated first",
        t.get("muted"),
    )));
    lines.push(Line::from(Span::styled(
        format!("h hints (−{} points each) · ★ your team", board.weights.hint),
        t.get("muted"),
    )));
    lines
}

fn cell_spans(app: &App, s: &ScenarioScore, c: &Cell, width: Width) -> Vec<Span<'static>> {
    let t = &app.theme;
    let time = |secs: Option<u64>, par: u64| match secs {
        Some(secs) => (clock(secs), if secs <= par { t.get("ok") } else { t.get("warn") }),
        None => ("–".to_string(), t.get("muted")),
    };
    let (ttd, ttd_style) = time(c.detect_secs, s.par_detect_secs);
    let (ttm, ttm_style) = time(c.mitigate_secs, s.par_mitigate_secs);
    let (comms, comms_style): (&str, Style) = match c.comms_first {
        Some(true) => ("✓", t.get("ok")),
        Some(false) => ("✗", t.get("alert")),
        None => (" ", t.get("muted")),
    };
    let hints = match c.hints {
        0 => String::new(),
        n @ 1..=9 => format!("h{n}"),
        _ => "9+".into(),
    };
    let points_style = if c.points < 0 { t.get("alert") } else { t.get("text") };
    let mut spans = vec![
        Span::styled(if width == Width::Wide { "│ " } else { "│" }, t.get("border")),
        Span::styled(format!("{ttd:>5} "), ttd_style),
        Span::styled(format!("{ttm:>5} "), ttm_style),
        Span::styled(comms, comms_style),
    ];
    if width == Width::Wide {
        spans.push(Span::styled(format!(" {hints:<2} "), t.get("warn")));
    }
    spans.push(Span::styled(format!("{:>4}", c.points), points_style));
    spans
}

/// One scenario: which it is (when not concealed: its title heads the column), its par
/// times, and how its run stands.
fn scenario_line(app: &App, s: &ScenarioScore, concealed: bool) -> Line<'static> {
    let t = &app.theme;
    let name = match (&s.scenario, concealed) {
        (Some(id), false) => format!("#{} {} ", s.plan, one_line(id)),
        _ => format!("Scenario #{} ", s.plan),
    };
    let mut spans = vec![Span::styled(name, t.get("title"))];
    if !s.target.is_empty() {
        spans.push(Span::styled(format!("→ {} ", one_line(&s.target.join(", "))), t.get("warn")));
    }
    spans.push(Span::styled(
        format!("· par {}/{} ", clock(s.par_detect_secs), clock(s.par_mitigate_secs)),
        t.get("muted"),
    ));
    let run = s.run.map(|r| format!("{r} ")).unwrap_or_default();
    let state = match (s.injected_at, s.ended) {
        (None, false) => ("· not started".to_string(), t.get("muted")),
        (None, true) => (format!("· {run}ended without an inject"), t.get("muted")),
        (Some(at), ended) => (
            format!(
                "· {run}injected {}{}",
                at.format("%H:%M:%S"),
                if ended { ", over" } else { ", running" }
            ),
            if ended { t.get("muted") } else { t.get("villain") },
        ),
    };
    spans.push(Span::styled(state.0, state.1));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_fit_five_columns() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(83), "1:23");
        assert_eq!(clock(99 * 60 + 59), "99:59");
        assert_eq!(clock(100 * 60), "1h40");
        assert_eq!(clock(25 * 3600), "25h00");
    }
}
