//! The postmortem editor drawn over the panes (the hint and status bars stay): a header with
//! the revision and whether the text is saved, the text with line numbers, a footer of keys.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::overlay::{centered, draw_reader, key, popup};
use crate::present::one_line;
use crate::tui::app::App;
use crate::tui::keymap::{Action, Scope};
use crate::tui::postmortem::Editor;

pub fn draw(f: &mut Frame, full: Rect, app: &App, editor: &Editor) {
    let t = &app.theme;
    let areas = app.areas();
    // Everything above the hint row: the hints say the editor's keys, the status bar flashes.
    let r = Rect { height: areas.hints.y.saturating_sub(full.y), ..full };
    if r.height < 4 {
        return;
    }
    f.render_widget(Clear, r);
    let status = editor.status(app.conn.online);
    let status_style = if editor.refused.is_some() || editor.newer.is_some() {
        t.get("alert")
    } else if editor.saving.is_some() || editor.unsaved() > 0 {
        t.get("warn")
    } else {
        t.get("ok")
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} postmortem ", editor.incident), t.get("title")),
        Span::styled(format!("{} ", one_line(&editor.title)), t.get("text")),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Thick)
        .border_style(t.get("focus"))
        .title(title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [head, body, foot] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    // The origin names the revision ("revision 2 by bob"), or says the text is a draft.
    let origin = if editor.base == 0 {
        format!("no revision yet · {} · ", one_line(&editor.origin))
    } else {
        format!("{} · ", one_line(&editor.origin))
    };
    let mut spans = vec![Span::styled(origin, t.get("muted")), Span::styled(status, status_style)];
    if let Some(why) = &editor.refused {
        spans.push(Span::styled(format!(" — {}", one_line(why)), t.get("muted")));
    }
    f.render_widget(Line::from(spans), head);
    f.render_widget(&editor.text, body);
    let footer = match &editor.error {
        Some(e) => Span::styled(one_line(e), t.get("alert")),
        None => {
            let k = |a| key(app, Scope::Postmortem, a);
            let mut keys = format!(
                "{} saves revision {} · {} edits in $EDITOR · {} closes",
                k(Action::Save),
                editor.base + 1,
                k(Action::EditPostmortem),
                k(Action::Cancel)
            );
            if editor.newer.is_some() {
                keys = format!(
                    "{} shows theirs · {} merges theirs into yours · {keys}",
                    k(Action::Theirs),
                    k(Action::Merge)
                );
            }
            Span::styled(keys, t.get("muted"))
        }
    };
    f.render_widget(footer, foot);
    if let Some(reader) = &editor.theirs {
        draw_reader(f, r, app, reader);
    }
    if editor.asking {
        ask_leave(f, r, app, editor);
    }
}

/// "Leave with unsaved changes?": what is lost, and the keys that answer.
fn ask_leave(f: &mut Frame, area: Rect, app: &App, editor: &Editor) {
    let t = &app.theme;
    let r = centered(area, area.width.saturating_sub(8).clamp(40, 70), 5);
    f.render_widget(Clear, r);
    let block = popup(app, format!("Leave {}'s postmortem?", editor.incident)).border_style(t.get("warn"));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let n = editor.unsaved();
    let lines = vec![
        Line::from(Span::styled(
            format!("{n} unsaved change{} will be lost.", if n == 1 { "" } else { "s" }),
            t.get("text"),
        )),
        Line::default(),
        Line::from(vec![
            Span::styled(key(app, Scope::Confirm, Action::Submit), t.get("focus")),
            Span::styled(" leaves without saving · ", t.get("muted")),
            Span::styled(key(app, Scope::Confirm, Action::Cancel), t.get("focus")),
            Span::styled(" keeps editing", t.get("muted")),
        ]),
    ];
    f.render_widget(Paragraph::new(lines), inner);
}
