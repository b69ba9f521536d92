//! Postmortems and action items on screen: the incident pane's postmortem line and its items,
//! and the overlay of every item the console holds, overdue first.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::overlay::{key, popup};
use crate::model::postmortem::ActionItem;
use crate::model::{Incident, IncidentId, Status};
use crate::present::one_line;
use crate::tui::app::{App, DETAIL_ITEMS};
use crate::tui::keymap::{Action, Scope};
use crate::tui::overlay::actions::{rows, ItemState};
use crate::tui::overlay::ActionsView;
use crate::tui::theme::Theme;

/// The incident pane's postmortem status and action items, once there is anything to say:
/// a postmortem or items exist, or the incident is at its postmortem or closed.
pub fn detail_lines(app: &App, inc: &Incident) -> Vec<Line<'static>> {
    let t = &app.theme;
    let wanted = matches!(inc.status, Status::Postmortem | Status::Closed);
    if inc.postmortem.is_none() && inc.actions.is_empty() && !wanted {
        return Vec::new();
    }
    let mut first = vec![Span::styled("postmortem ", t.get("muted"))];
    match &inc.postmortem {
        Some(pm) => {
            let by = pm.revisions.last().map_or_else(String::new, |r| format!(" by {}", one_line(&r.by)));
            first.push(Span::styled(format!("revision {}{by}", pm.revision()), t.get("text")));
            let class = pm.document.failure_class.as_deref().map_or("no failure class yet".into(), one_line);
            first.push(Span::styled(format!(" · {class}"), t.get("text")));
        }
        None => {
            first.push(Span::styled("none", t.get("text")));
            if app.postmortem_settings().requires(inc) {
                first.push(Span::styled(" · required to close as resolved", t.get("warn")));
            }
            // A read-only console (a replay, the scoreboard) writes nothing: no hint.
            let key = app.keymap.first_key(Scope::Global, Action::Postmortem).filter(|_| !app.solo);
            if let Some(key) = key {
                first.push(Span::styled(format!(" · {key} writes it"), t.get("muted")));
            }
        }
    }
    let open = inc.actions.iter().filter(|a| a.done.is_none()).count();
    let overdue = inc.actions.iter().filter(|a| a.is_overdue(app.now)).count();
    if !inc.actions.is_empty() {
        first.push(Span::styled(format!(" · {open} of {} items open", inc.actions.len()), t.get("muted")));
        if overdue > 0 {
            first.push(Span::styled(format!(", {overdue} OVERDUE"), t.get("alert")));
        }
    }
    let mut lines = vec![Line::from(first)];
    // Overdue first, then open, then done: what needs doing is never cut for what is done.
    let mut items: Vec<&ActionItem> = inc.actions.iter().collect();
    items.sort_by_key(|a| (ItemState::of(a, app.now), a.item));
    for a in items.iter().take(DETAIL_ITEMS) {
        lines.push(item_line(t, a, app.now, None));
    }
    if items.len() > DETAIL_ITEMS {
        let key = app.keymap.first_key(Scope::Global, Action::Actions).unwrap_or_else(|| ":actions".into());
        lines.push(Line::from(Span::styled(
            format!("  +{} more: {key} lists every item", items.len() - DETAIL_ITEMS),
            t.get("muted"),
        )));
    }
    lines
}

/// `#n title — owner, due, link`: done ones dimmed, OVERDUE in the alert style; with the
/// incident in front when `incident` is given (the overlay lists every incident's).
fn item_line(t: &Theme, a: &ActionItem, now: DateTime<Utc>, incident: Option<IncidentId>) -> Line<'static> {
    let state = ItemState::of(a, now);
    let dim = |s: Style| if state == ItemState::Done { t.get("muted") } else { s };
    let mut spans = vec![Span::raw("  ")];
    if let Some(id) = incident {
        spans.push(Span::styled(format!("{id:<7} "), dim(t.get("text"))));
    }
    spans.push(Span::styled(format!("#{:<2} ", a.item), dim(t.get("focus"))));
    match state {
        ItemState::Overdue => spans.push(Span::styled("OVERDUE ", t.get("alert"))),
        ItemState::Done => spans.push(Span::styled("✓ ", t.get("muted"))),
        ItemState::Open => {}
    }
    spans.push(Span::styled(one_line(&a.title), dim(t.get("text"))));
    let mut tail = format!(" — {}", one_line(&a.owner));
    if let Some(due) = a.due {
        tail.push_str(&format!(", due {due}"));
    }
    if let Some(link) = &a.link {
        tail.push_str(&format!(", {}", one_line(link)));
    }
    if let Some(done) = &a.done {
        tail.push_str(&format!(" · done by {} {}", one_line(&done.by), done.at.format("%Y-%m-%d")));
    }
    spans.push(Span::styled(tail, t.get("muted")));
    Line::from(spans)
}

/// Every action item the console holds, overdue first, in a popup over the panes.
pub fn draw_overlay(f: &mut Frame, area: Rect, app: &App, view: &ActionsView) {
    let t = &app.theme;
    let all = rows(&app.state, app.now, false);
    let listed =
        if view.open_only { all.iter().filter(|(_, a)| a.done.is_none()).count() } else { all.len() };
    // As tall as its rows (and a border and footer), never taller than the screen.
    let width = area.width.saturating_sub(4).clamp(20.min(area.width), 130);
    let most = area.height.saturating_sub(2);
    let height = u16::try_from(listed.max(1)).unwrap_or(u16::MAX).saturating_add(3).clamp(6.min(most), most);
    let r =
        Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    f.render_widget(Clear, r);
    let open = all.iter().filter(|(_, a)| a.done.is_none()).count();
    let overdue = all.iter().filter(|(_, a)| a.is_overdue(app.now)).count();
    let shown = if view.open_only { "open ones shown" } else { "all shown" };
    let title = format!("Action items: {open} open ({overdue} overdue), {} done · {shown}", all.len() - open);
    let block = popup(app, title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    if inner.height == 0 {
        return;
    }
    let [body, foot] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    let items = rows(&app.state, app.now, view.open_only);
    let mut lines: Vec<Line> = Vec::new();
    if items.is_empty() {
        let what =
            if view.open_only && !all.is_empty() { "no open action items" } else { "no action items yet" };
        lines.push(Line::from(Span::styled(
            format!("  {what}: :action add TITLE @OWNER on the selected incident"),
            t.get("muted"),
        )));
    }
    let height = body.height as usize;
    let selected = view.selected.min(items.len().saturating_sub(1));
    let skip = (selected + 1).saturating_sub(height);
    for (i, (id, a)) in items.iter().enumerate().skip(skip).take(height) {
        let line = item_line(t, a, app.now, Some(*id));
        lines.push(if i == selected { line.patch_style(t.get("selection")) } else { line });
    }
    f.render_widget(Paragraph::new(lines), body);
    let k = |a| key(app, Scope::Actions, a);
    let footer = format!(
        " {} opens its incident · {} open only / all · {} closes",
        k(Action::Pick),
        k(Action::ToggleOpen),
        k(Action::Cancel)
    );
    f.render_widget(Span::styled(footer, t.get("muted")), foot);
}
