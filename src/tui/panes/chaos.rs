//! The chaos pane (the catalogue, then the runs with phase, progress and countdown; the selected
//! row in full below) and the chaos banner every view shows while chaos runs or is disarmed.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::frame;
use crate::model::chaos::{Run, RunPhase, ScenarioInfo};
use crate::model::incident::format_duration;
use crate::present::one_line;
use crate::tui::app::chaos_countdown as countdown;
use crate::tui::app::{App, ChaosItem, Pane};
use crate::tui::keymap::{Action, Scope};

/// The banner: one row over every view, reversed so nobody misses that chaos is on.
pub fn draw_banner(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (i, (text, alarm)) in app.banner_parts().into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", t.get("border")));
        }
        let style = if alarm { t.get("alert") } else { t.get("villain") };
        spans.push(Span::styled(format!(" {text} "), style.add_modifier(Modifier::REVERSED)));
    }
    f.render_widget(Line::from(spans), area);
}

fn duration(secs: u64) -> String {
    format_duration(chrono::Duration::seconds(secs as i64))
}

/// What a run shows after its progress: time left while it runs, its verdict once ended.
fn run_state(r: &Run, now: chrono::DateTime<chrono::Utc>) -> String {
    match (r.phase, &r.verdict) {
        (RunPhase::Ended, Some(v)) => if v.deviated { "deviated" } else { "held" }.to_string(),
        (RunPhase::Ended, None) => "ended".into(),
        (RunPhase::Stopping, _) => "rolling back".into(),
        _ => format!("{} left", countdown(r.ends_at - now)),
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let chaos = &app.state.chaos;
    let active = chaos.active().count();
    let mut title = vec![Span::styled(" Chaos ", t.get("title"))];
    if let Some(mark) = super::stale_mark(app) {
        title.push(mark);
    }
    match &chaos.disarmed {
        Some(_) => title.push(Span::styled("DISARMED ", t.get("warn"))),
        None => title.push(Span::styled("armed ", t.get("muted"))),
    }
    if active > 0 {
        title.push(Span::styled(format!("· {active} running "), t.get("villain")));
    }
    let block = frame(app, Pane::Chaos, Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 3 {
        return;
    }
    let items = app.chaos_items();
    let selected = app.chaos_selected();
    // The list gets what it needs up to half the pane; the selected row's detail the rest.
    let headings = 2 + u16::from(!chaos.runs.is_empty());
    let want = items.len() as u16 + headings;
    let [list, keys, detail] = Layout::vertical([
        Constraint::Length(want.min(inner.height / 2).max(3)),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);

    let id_w = app.scenarios().iter().map(|s| s.id.chars().count()).max().unwrap_or(8).clamp(8, 22);
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    lines.push(Line::from(Span::styled(
        format!("  {:<id_w$} {:>6}  {:<24} TITLE", "SCENARIO", "LENGTH", "TARGETS"),
        t.get("muted"),
    )));
    if app.library.is_none() {
        lines.push(Line::from(Span::styled("  loading the catalogue…", t.get("muted"))));
    } else if app.scenarios().is_empty() {
        lines.push(Line::from(Span::styled(
            "  no scenarios: the server loads them from playbooks/chaos/",
            t.get("muted"),
        )));
    }
    let mut runs_heading = false;
    for item in &items {
        let is_sel = Some(*item) == selected;
        let line = match item {
            ChaosItem::Scenario(i) => {
                let Some(s) = app.scenarios().get(*i) else { continue };
                let running = chaos.active().find(|r| r.scenario.id == s.id);
                let mark = if running.is_some() { "● " } else { "  " };
                let mut spans = vec![
                    Span::styled(mark, t.get("villain")),
                    Span::styled(format!("{:<id_w$.id_w$} ", one_line(&s.id)), t.get("text")),
                    Span::styled(format!("{:>6}  ", duration(s.duration_secs)), t.get("muted")),
                    Span::styled(format!("{:<24.24} ", one_line(&s.target.join(","))), t.get("warn")),
                    Span::styled(one_line(&s.title), t.get("text")),
                ];
                if let Some(r) = running {
                    spans.insert(4, Span::styled(format!("{} ", r.id), t.get("villain")));
                }
                Line::from(spans)
            }
            ChaosItem::Run(id) => {
                if !runs_heading {
                    runs_heading = true;
                    lines.push(Line::from(Span::styled(
                        format!(
                            "  {:<7} {:<id_w$} {:<8} {:>5} {:<12} WHY",
                            "RUN", "SCENARIO", "PHASE", "DONE", "STATE"
                        ),
                        t.get("muted"),
                    )));
                }
                let Some(r) = chaos.runs.get(id) else { continue };
                let style = if r.rollback_failed.is_some() {
                    t.get("alert")
                } else if r.is_active() {
                    t.get("villain")
                } else {
                    t.get("muted")
                };
                let why = match (&r.rollback_failed, r.cause, &r.reason) {
                    (Some(e), _, _) => format!("ROLLBACK FAILED: {}", one_line(e)),
                    (None, Some(c), Some(reason)) => format!("{c}: {}", one_line(reason)),
                    (None, Some(c), None) => c.to_string(),
                    (None, None, _) => format!("by {}", one_line(&r.started_by)),
                };
                let linked: Vec<String> = r.incidents.iter().map(|i| i.to_string()).collect();
                let mut spans = vec![
                    Span::styled(format!("  {:<7} ", r.id.to_string()), style),
                    Span::styled(format!("{:<id_w$.id_w$} ", one_line(&r.scenario.id)), t.get("text")),
                    Span::styled(format!("{:<8} ", r.phase.as_str()), style),
                    Span::styled(
                        format!("{:>5} ", format!("{}/{}", r.injected, r.scenario.phases.len())),
                        t.get("muted"),
                    ),
                    Span::styled(format!("{:<12} ", run_state(r, app.now)), style),
                    Span::styled(
                        why,
                        if r.rollback_failed.is_some() { t.get("alert") } else { t.get("muted") },
                    ),
                ];
                if !linked.is_empty() {
                    spans.push(Span::styled(format!("  → {}", linked.join(" ")), t.get("warn")));
                }
                Line::from(spans)
            }
        };
        if is_sel {
            selected_line = lines.len();
        }
        let focused = app.focus == Pane::Chaos;
        lines.push(if is_sel && focused { line.style(t.get("selection")) } else { line });
    }
    let skip = (selected_line + 1).saturating_sub(list.height as usize);
    f.render_widget(Paragraph::new(lines).scroll((skip as u16, 0)), list);

    draw_keys(f, keys, app);

    let detail_lines = match selected {
        Some(ChaosItem::Scenario(i)) => app.scenarios().get(i).map(|s| scenario_detail(app, s)),
        Some(ChaosItem::Run(id)) => chaos.runs.get(&id).map(|r| run_detail(app, r)),
        None => None,
    };
    if let Some(lines) = detail_lines {
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), detail);
    }
}

/// The pane's keys, greyed (with a why) for a role that may not drive chaos.
fn draw_keys(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let may = app.may_drive_chaos();
    let mut spans = Vec::new();
    for action in [Action::StartScenario, Action::StopRun, Action::HaltAll, Action::ArmChaos] {
        let Some(key) = app.keymap.first_key(Scope::Chaos, action) else { continue };
        let (k, d) = if may { (t.get("focus"), t.get("muted")) } else { (t.get("muted"), t.get("muted")) };
        spans.push(Span::styled(key, k));
        spans.push(Span::styled(format!(" {}  ", action.hint()), d));
    }
    if !may {
        spans.push(Span::styled("(villains and admins only)", t.get("muted").add_modifier(Modifier::ITALIC)));
    }
    f.render_widget(Line::from(spans), area);
}

fn row(app: &App, label: &str, value: String, style: Style) -> Line<'static> {
    // A label longer than its column (`phase 2 +2m00s`) still keeps a space before its value.
    Line::from(vec![
        Span::styled(format!("{label:<12} "), app.theme.get("muted")),
        Span::styled(value, style),
    ])
}

fn scenario_detail(app: &App, s: &ScenarioInfo) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled(one_line(&s.title), t.get("title")))];
    if !s.hypothesis.is_empty() {
        lines.push(row(app, "hypothesis", one_line(&s.hypothesis), t.get("text")));
    }
    lines.push(row(app, "targets", one_line(&s.target.join(", ")), t.get("warn")));
    lines.push(row(app, "duration", duration(s.duration_secs), t.get("text")));
    if !s.steady_state.is_empty() {
        lines.push(row(
            app,
            "steady state",
            format!("{} up", one_line(&s.steady_state.join(", "))),
            t.get("text"),
        ));
    }
    lines.push(row(app, "stops when", one_line(&s.stop_when), t.get("text")));
    for (i, p) in s.phases.iter().enumerate() {
        let label = format!("phase {} +{}", i + 1, duration(p.at_secs));
        lines.push(row(
            app,
            &label,
            format!("[{}] {}", one_line(&p.driver), one_line(&p.title)),
            t.get("text"),
        ));
    }
    if !s.rollback.is_empty() {
        lines.push(row(app, "rollback", one_line(&s.rollback.join("; ")), t.get("text")));
    }
    lines
}

fn run_detail(app: &App, r: &Run) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", r.id), t.get("villain")),
        Span::styled(one_line(&r.scenario.title), t.get("title")),
    ])];
    lines.push(row(
        app,
        "started",
        format!("{} by {}", r.started_at.format("%H:%M:%S"), one_line(&r.started_by)),
        t.get("text"),
    ));
    let state = if r.is_active() {
        format!("{}, rolled back by {} ({})", r.phase, r.ends_at.format("%H:%M:%S"), run_state(r, app.now))
    } else {
        let at = r.ended_at.map(|e| e.format(" at %H:%M:%S").to_string()).unwrap_or_default();
        format!("ended{at}")
    };
    lines.push(row(app, "phase", state, t.get("text")));
    if let Some(c) = r.cause {
        let why = r.reason.as_deref().map(|w| format!(": {}", one_line(w))).unwrap_or_default();
        lines.push(row(app, "stopped", format!("{c}{why}"), t.get("text")));
    }
    if let Some(e) = &r.rollback_failed {
        lines.push(row(app, "ROLLBACK", format!("FAILED, retrying: {}", one_line(e)), t.get("alert")));
    }
    if let Some(v) = &r.verdict {
        let probes: Vec<String> = v.probes.iter().map(|(p, h)| format!("{p} {h}")).collect();
        let (word, style) = if v.deviated { ("deviated", t.get("alert")) } else { ("held", t.get("ok")) };
        lines.push(row(app, "hypothesis", format!("{word} ({})", probes.join(", ")), style));
    }
    if !r.incidents.is_empty() {
        let ids: Vec<String> = r.incidents.iter().map(|i| i.to_string()).collect();
        lines.push(row(app, "caused", ids.join(" "), t.get("warn")));
    }
    lines.push(Line::from(Span::styled(
        format!("{:<9} {:<12} {:<12} {:<3} OUTPUT", "TIME", "STEP", "DRIVER", "OK"),
        t.get("muted"),
    )));
    if r.steps.is_empty() {
        lines.push(Line::from(Span::styled("no steps recorded yet", t.get("muted"))));
    }
    // Newest last, like the timeline; the pane shows as many as fit from the top.
    for s in &r.steps {
        let style = if s.ok { t.get("text") } else { t.get("alert") };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<9} ", s.at.format("%H:%M:%S")), t.get("muted")),
            Span::styled(format!("{:<12} ", s.step.as_str()), style),
            Span::styled(format!("{:<12.12} ", one_line(&s.driver)), t.get("muted")),
            Span::styled(format!("{:<3} ", if s.ok { "✓" } else { "✖" }), style),
            Span::styled(one_line(&s.output), style),
        ]));
    }
    lines
}
