//! The incidents pane: open first, worst first, oldest first; severity glyph and colour,
//! status, live age, commander, drills marked; `/` filters.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::frame;
use crate::present::{age, one_line};
use crate::tui::app::{App, Pane};
use crate::tui::layout::list_rows;
use crate::tui::theme::severity_glyph;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let open = app.state.incidents.values().filter(|i| i.status.is_open()).count();
    let mut title = vec![
        Span::styled(" Incidents ", t.get("title")),
        Span::styled(format!("{open} open "), t.get("muted")),
    ];
    if app.filter_editing || !app.filter.is_empty() {
        let cursor = if app.filter_editing { "▏" } else { "" };
        title.push(Span::styled(format!("/{}{cursor} ", one_line(&app.filter)), t.get("warn")));
        title.push(Span::styled(format!("{} shown ", app.list.len()), t.get("muted")));
    }
    title.extend(super::stale_mark(app));
    let rows = list_rows(area);
    let mut block = frame(app, Pane::Incidents, Line::from(title));
    // Rows scrolled out of sight are counted, naming the worst of them: a SEV1 above the
    // fold must not be forgotten.
    let more = |ids: &[crate::model::IncidentId], arrow: &str| {
        let hidden: Vec<_> = ids.iter().filter_map(|id| app.state.incidents.get(id)).collect();
        let worst = hidden.iter().filter(|i| i.status.is_open()).map(|i| i.severity).min();
        let n = hidden.len();
        let worst = worst
            .map(|w| {
                format!(", {} {w}", hidden.iter().filter(|i| i.status.is_open() && i.severity == w).count())
            })
            .unwrap_or_default();
        Line::from(Span::styled(format!(" {arrow} {n} more{worst} "), t.get("warn"))).right_aligned()
    };
    let above = &app.list[..app.list_offset.min(app.list.len())];
    if !above.is_empty() {
        block = block.title(more(above, "↑"));
    }
    let below = app.list.get(app.list_offset + rows..).unwrap_or_default();
    if !below.is_empty() {
        block = block.title_bottom(more(below, "↓"));
    }
    // Narrow panes give the title the commander's column.
    let wide = area.width >= 72;
    let visible = app.list.iter().skip(app.list_offset).take(rows);
    let body: Vec<Row> = visible
        .filter_map(|id| app.state.incidents.get(id))
        .map(|inc| {
            let sev = t.severity(inc.severity);
            let selected = app.selected == Some(inc.id);
            let mut title = Vec::new();
            // An audience overdue its update, whichever incident is selected: communicate first.
            if crate::model::comms::clocks(inc).iter().any(|c| c.overdue(app.now)) {
                title.push(Span::styled("◷ ", t.get("alert")));
            }
            if app.my_name().is_some_and(|me| inc.roles.values().any(|p| p == me)) {
                // Yours: you hold a role on it.
                title.push(Span::styled("★ ", t.get("focus")));
            }
            if inc.private {
                // Members see it; say so, so nobody pastes it where everyone reads.
                title.push(Span::styled("PRIVATE ", t.get("warn")));
            }
            if inc.drill {
                title.push(Span::styled("DRILL ", t.get("drill")));
            }
            title.push(Span::styled(
                one_line(&inc.title),
                if inc.status.is_open() { t.get("text") } else { t.get("muted") },
            ));
            let mut cells = vec![
                Cell::from(Span::styled(format!("{} {}", severity_glyph(inc.severity), inc.severity), sev)),
                Cell::from(Span::styled(inc.id.to_string(), t.get("text"))),
                Cell::from(Span::styled(inc.status.as_str(), t.status(inc.status))),
                Cell::from(Span::styled(age(inc.declared_at(), app.now), t.get("muted"))),
            ];
            if wide {
                cells.push(Cell::from(Span::styled(one_line(inc.commander().unwrap_or("-")), t.get("text"))));
            }
            cells.push(Cell::from(Line::from(title)));
            let row = Row::new(cells);
            if selected {
                row.style(t.get("selection"))
            } else {
                row
            }
        })
        .collect();
    let mut names = vec!["SEV", "ID", "STATUS", "AGE"];
    let mut widths =
        vec![Constraint::Length(6), Constraint::Length(7), Constraint::Length(13), Constraint::Length(6)];
    if wide {
        names.push("IC");
        widths.push(Constraint::Length(9));
    }
    names.push("TITLE");
    widths.push(Constraint::Min(10));
    let header = Row::new(names).style(t.get("muted"));
    let table = Table::new(body, widths).header(header).block(block).column_spacing(1);
    f.render_widget(table, area);
    if app.list.is_empty() {
        let inner = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 2 };
        if app.not_signed_in.is_some() {
            // Not "no incidents": the server would not say.
            let lines = vec![
                Line::from(Span::styled("not signed in: the server refused this token", t.get("alert"))),
                Line::from(Span::styled(super::status::SIGN_IN_FIX, t.get("muted"))),
            ];
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
            return;
        }
        let msg = if app.filter.is_empty() {
            "no incidents — d declares one"
        } else {
            "nothing matches the filter"
        };
        f.render_widget(Span::styled(msg, t.get("muted")), Rect { height: 1, ..inner });
    }
}
