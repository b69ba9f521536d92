//! The playbook pane: the communication clocks first (red when overdue), then the steps
//! grouped by section with owner, assignee and who ticked them; progress in the title.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::frame;
use crate::model::comms::{clocks, describe};
use crate::present::one_line;
use crate::tui::app::{App, Pane};

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let inc = app.selected_incident();
    let Some(list) = inc.and_then(|i| i.checklist.as_ref()) else {
        let block = frame(app, Pane::Playbook, Line::from(Span::styled(" Playbook ", t.get("title"))));
        let hint = if inc.is_some() { "no playbook — p attaches one" } else { "no incident selected" };
        f.render_widget(Paragraph::new(Span::styled(hint, t.get("muted"))).block(block), area);
        return;
    };
    let inc = inc.expect("checked above");
    let title = Line::from(vec![
        Span::styled(format!(" {} ", one_line(&list.title)), t.get("title")),
        Span::styled(format!("{}/{} done ", list.done(), list.steps.len()), t.get("muted")),
        super::stale_mark(app).unwrap_or_default(),
    ]);
    let block = frame(app, Pane::Playbook, title);
    let inner = block.inner(area);
    f.render_widget(block, area);

    let mut head: Vec<Line> = clocks(inc)
        .iter()
        .map(|c| {
            let style = if c.overdue(app.now) { t.get("alert") } else { t.get("warn") };
            Line::from(vec![Span::styled("◷ ", style), Span::styled(describe(c, app.now), style)])
        })
        .collect();
    if !head.is_empty() {
        head.push(Line::default());
    }
    // Steps with section headers; remember which line holds the selected step.
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    let mut section = None;
    for (i, s) in list.steps.iter().enumerate() {
        if section != Some(s.step.section) {
            section = Some(s.step.section);
            lines.push(Line::from(Span::styled(s.step.section.as_str().to_uppercase(), t.get("section"))));
        }
        let selected = i == app.step && app.focus == Pane::Playbook;
        if i == app.step {
            selected_line = lines.len();
        }
        let mark = if s.ticked.is_some() { "[x]" } else { "[ ]" };
        let mut spans = vec![
            Span::styled(format!("{mark} "), if s.ticked.is_some() { t.get("ok") } else { t.get("text") }),
            Span::styled(
                one_line(&s.step.title),
                if s.ticked.is_some() { t.get("muted") } else { t.get("text") },
            ),
        ];
        if let Some(c) = &s.step.channel {
            spans.push(Span::styled(format!(" → {}", one_line(c)), t.get("entry.message")));
        }
        // Who does it: the assignee, else whoever holds the owning role (a person is
        // who the room calls, not a role name); mine are starred.
        let holder = s.step.owner.and_then(|r| inc.roles.get(&r));
        let mine = |p: &str| app.my_name() == Some(p);
        match (&s.ticked, &s.assignee, s.step.owner) {
            (Some(tick), _, _) => spans.push(Span::styled(
                format!("  ✓ {} {}", one_line(&tick.by), tick.at.format("%H:%M")),
                t.get("muted"),
            )),
            (None, Some(a), _) => {
                let star = if mine(a) { "★ " } else { "" };
                spans.push(Span::styled(format!("  ⇢ {star}{}", one_line(a)), t.get("warn")));
            }
            (None, None, Some(owner)) => match holder {
                Some(p) => {
                    let star = if mine(p) { "★ " } else { "" };
                    spans.push(Span::styled(format!("  {star}{} ({owner})", one_line(p)), t.get("text")));
                }
                None => spans.push(Span::styled(format!("  ({owner}: nobody yet)"), t.get("muted"))),
            },
            _ => {}
        }
        let line = Line::from(spans);
        lines.push(if selected { line.style(t.get("selection")) } else { line });
    }
    let height = inner.height as usize;
    let room = height.saturating_sub(head.len()).max(1);
    let skip = (selected_line + 1).saturating_sub(room);
    head.extend(lines.into_iter().skip(skip));
    f.render_widget(Paragraph::new(head), inner);
}
