//! Overlays drawn over the panes: help (generated from the keymap and the command verbs),
//! menus, forms and the `:` command line.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use ratatui::style::Modifier;
use tui_textarea::TextArea;

use crate::present::one_line;
use crate::tui::app::{App, CommandLine, Overlay};
use crate::tui::command::VERBS;
use crate::tui::form::{soft_breaks, DeclareField, Form, Menu};
use crate::tui::keymap::{Action, Scope};
use crate::tui::overlay::Reader;
use crate::tui::theme::severity_glyph;

pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(v);
    h
}

pub(crate) fn popup<'a>(app: &App, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(app.theme.get("focus"))
        .title(Span::styled(format!(" {title} "), app.theme.get("title")))
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    match &app.overlay {
        None => {}
        Some(Overlay::Help(h)) => help(f, area, app, h.scroll),
        Some(Overlay::Menu(menu)) => draw_menu(f, area, app, menu),
        Some(Overlay::Form(form)) => draw_form(f, area, app, form),
        Some(Overlay::Command(line)) => command_line(f, area, app, line),
        Some(Overlay::Reader(reader)) => draw_reader(f, area, app, reader),
        Some(Overlay::Confirm(c)) => draw_confirm(f, area, app, c),
        Some(Overlay::Postmortem(editor)) => super::postmortem::draw(f, area, app, editor),
        Some(Overlay::Actions(view)) => super::actions::draw_overlay(f, area, app, view),
    }
}

/// A dangerous action spelled out before it happens: label and value rows, then the keys.
fn draw_confirm(f: &mut Frame, area: Rect, app: &App, c: &crate::tui::overlay::Confirm) {
    let t = &app.theme;
    let width = area.width.saturating_sub(8).clamp(40, 90);
    let label_w = c.rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(8) + 2;
    // What is confirmed is read in full: a long value wraps under itself, never cut.
    let text_w = usize::from(width).saturating_sub(2 + label_w).max(10);
    let mut lines: Vec<Line> = Vec::new();
    for (label, value) in &c.rows {
        let chars: Vec<char> = one_line(value).chars().collect();
        let mut breaks = crate::tui::form::soft_breaks(&chars, text_w);
        if breaks.is_empty() {
            breaks.push((0, 0));
        }
        for (i, (a, b)) in breaks.into_iter().enumerate() {
            let head = if i == 0 { format!("{:<label_w$}", one_line(label)) } else { " ".repeat(label_w) };
            lines.push(Line::from(vec![
                Span::styled(head, t.get("muted")),
                Span::styled(chars[a..b].iter().collect::<String>().trim_end().to_string(), t.get("text")),
            ]));
        }
    }
    let r = centered(area, width, u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_add(4));
    f.render_widget(Clear, r);
    let block = popup(app, one_line(&c.title)).border_style(t.get("villain"));
    let inner = block.inner(r);
    f.render_widget(block, r);
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(key(app, Scope::Confirm, Action::Submit), t.get("focus")),
        Span::styled(format!(" {} it · ", c.verb), t.get("muted")),
        Span::styled(key(app, Scope::Confirm, Action::Cancel), t.get("focus")),
        Span::styled(" cancels", t.get("muted")),
    ]));
    f.render_widget(Paragraph::new(lines), inner);
}

/// One thing in full: every row of it wraps, none is cut; a footer says where you are.
pub(crate) fn draw_reader(f: &mut Frame, area: Rect, app: &App, reader: &Reader) {
    let t = &app.theme;
    let r = Reader::frame(area);
    f.render_widget(Clear, r);
    let block = popup(app, one_line(&reader.title));
    let inner = block.inner(r);
    f.render_widget(block, r);
    if inner.height == 0 {
        return;
    }
    let [body, foot] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    let rows = reader.rows(body.width as usize);
    let shown: Vec<Line> = rows
        .iter()
        .skip(reader.scroll)
        .take(body.height as usize)
        .map(|(heading, row)| {
            Line::from(Span::styled(row.clone(), if *heading { t.get("title") } else { t.get("text") }))
        })
        .collect();
    let end = (reader.scroll + shown.len()).min(rows.len());
    f.render_widget(Paragraph::new(shown), body);
    let place = if rows.len() <= body.height as usize {
        "all shown".to_string()
    } else {
        format!("rows {}–{end} of {}", reader.scroll + 1, rows.len())
    };
    let footer = format!(
        " {place} · {}/{} scroll · {} closes",
        key(app, Scope::Reader, Action::Down),
        key(app, Scope::Reader, Action::Up),
        key(app, Scope::Reader, Action::Cancel)
    );
    f.render_widget(Span::styled(footer, t.get("muted")), foot);
}

/// The key the keymap shows for an overlay action, for footers and titles.
pub(crate) fn key(app: &App, scope: Scope, action: Action) -> String {
    app.keymap.first_key(scope, action).unwrap_or_else(|| "?".into())
}

/// What each glyph on screen means, first in the help.
const LEGEND: &[(&str, &str)] = &[
    ("█ ▓ ▒ ░ ·", "severity SEV1 (worst) … SEV5"),
    ("● ◐ ✖ ○", "service up, degraded, down, not probed yet"),
    ("◷", "a communication clock: when an audience is due its next update (in the list: one is overdue)"),
    ("★", "yours: you hold a role on it, or the step is yours"),
    ("⇢ name", "step assigned to that person"),
    ("✓ name", "step ticked by that person"),
    ("⧗ pending", "sent by you, not yet in the log (offline: queued)"),
    ("STALE 2m05s old", "the server is away: what is shown is that old"),
    ("staff status_page …", "audiences: who a message reaches"),
    ("→ public", "a channel (server config): how it reaches them"),
];

/// The help's lines; also what `warroom keys` prints.
pub fn help_lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled("symbols", t.get("title")))];
    for (glyph, meaning) in LEGEND {
        lines.push(Line::from(vec![
            Span::styled(format!("  {glyph:<22}"), t.get("focus")),
            Span::styled(*meaning, t.get("text")),
        ]));
    }
    lines.push(Line::default());
    let mut last_scope = None;
    // The user switch is the demo's alone: a normal console does not offer it.
    let rows =
        app.keymap.rows().into_iter().filter(|(_, _, a)| *a != Action::SwitchUser || app.switch.is_some());
    for (scope, keys, action) in rows {
        if last_scope != Some(scope) {
            if last_scope.is_some() {
                lines.push(Line::default());
            }
            lines.push(Line::from(Span::styled(scope.title().to_string(), t.get("title"))));
            last_scope = Some(scope);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<22}"), t.get("focus")),
            Span::styled(action.describe().to_string(), t.get("text")),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("command line verbs", t.get("title"))));
    for verb in VERBS.iter().filter(|v| v.bare != Some(Action::SwitchUser) || app.switch.is_some()) {
        let mut note = Vec::new();
        if !verb.aliases.is_empty() {
            note.push(format!("also :{}", verb.aliases.join(", :")));
        }
        if let Some(key) = verb.bare.and_then(|a| app.keymap.first_key(Scope::Global, a)) {
            note.push(format!("bare: as {key}"));
        }
        // The game master's verbs are greyed for whom the server would refuse them.
        let role = app.me.as_ref().map(|m| m.role).filter(|r| !crate::tui::command::may_use(verb, *r));
        if let Some(role) = role {
            note.push(format!("not for a {role}"));
        }
        let note = if note.is_empty() { String::new() } else { format!("  ({})", note.join("; ")) };
        let style = if role.is_some() { t.get("muted") } else { t.get("focus") };
        lines.push(Line::from(vec![
            Span::styled(format!("  :{:<30}", verb.usage), style),
            Span::styled(note, t.get("muted")),
        ]));
    }
    lines.push(Line::from(Span::styled(
        "  every action's name is a verb too: :zoom, :next_pane, :toggle_time …",
        t.get("muted"),
    )));
    if let Some(sw) = &app.switch {
        lines.push(Line::default());
        let key = app.keymap.first_key(Scope::Global, Action::SwitchUser).unwrap_or_else(|| ":as".into());
        let to = app.switch_hint().map(|to| format!(" ({key} → {to})")).unwrap_or_default();
        lines.push(Line::from(Span::styled(format!("demo users: :as NAME or ROLE{to}"), t.get("title"))));
        for i in 0..sw.users.len() {
            let you = if i == sw.current { "  (you)" } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("  {}", sw.label(i).unwrap_or_default()), t.get("focus")),
                Span::styled(you, t.get("muted")),
            ]));
        }
    }
    lines
}

fn help(f: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let lines = help_lines(app);
    // As wide as its longest line where the screen allows; narrower screens wrap, never cut.
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let width = u16::try_from(widest).unwrap_or(u16::MAX).saturating_add(2).max(40);
    let r = centered(area, width, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(popup(
            app,
            format!(
                "help — {}/{} scroll, any other key closes",
                key(app, Scope::Help, Action::Down),
                key(app, Scope::Help, Action::Up)
            ),
        ))
        .scroll((scroll, 0));
    f.render_widget(p, r);
}

fn draw_menu(f: &mut Frame, area: Rect, app: &App, menu: &Menu) {
    let t = &app.theme;
    let width =
        menu.items.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(10).max(menu.title.len()).max(24)
            as u16
            + 6;
    let r = centered(area, width, menu.items.len() as u16 + 3);
    f.render_widget(Clear, r);
    let mut lines: Vec<Line> = menu
        .items
        .iter()
        .enumerate()
        .map(|(i, (label, _))| {
            let style = if i == menu.selected { t.get("selection") } else { t.get("text") };
            Line::from(Span::styled(format!(" {} {} ", menu.number(i), one_line(label)), style))
        })
        .collect();
    let footer = format!(
        " {} picks · {} cancels",
        key(app, Scope::Menu, Action::Pick),
        key(app, Scope::Menu, Action::Cancel)
    );
    lines.push(Line::from(Span::styled(footer, t.get("muted"))));
    f.render_widget(Paragraph::new(lines).block(popup(app, menu.title.clone())), r);
}

fn draw_form(f: &mut Frame, area: Rect, app: &App, form: &Form) {
    let t = &app.theme;
    let width = area.width.saturating_sub(8).clamp(40, 90);
    let (send, cancel) = (key(app, Scope::Form, Action::Submit), key(app, Scope::Form, Action::Cancel));
    let label = |text: &'static str, active: bool| {
        Span::styled(format!("{text:<10}"), if active { t.get("focus") } else { t.get("muted") })
    };
    match form {
        Form::Declare { title, severity, impact, drill, field, services, .. } => {
            let r = centered(area, width, 13);
            f.render_widget(Clear, r);
            let block = popup(app, form.title());
            let inner = block.inner(r);
            f.render_widget(block, r);
            let rows = Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(4),
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .split(inner);
            let [l, v] = Layout::horizontal([Constraint::Length(10), Constraint::Min(1)]).areas(rows[0]);
            f.render_widget(label("title", *field == DeclareField::Title), l);
            f.render_widget(title, v);
            let mut sevs = vec![label("severity", *field == DeclareField::Severity)];
            for s in crate::model::Severity::ALL {
                let style = if s == *severity {
                    t.severity(s).add_modifier(ratatui::style::Modifier::REVERSED)
                } else {
                    t.get("muted")
                };
                sevs.push(Span::styled(format!(" {} {s} ", severity_glyph(s)), style));
            }
            f.render_widget(Line::from(sevs), rows[1]);
            let [l, v] = Layout::horizontal([Constraint::Length(10), Constraint::Min(1)]).areas(rows[3]);
            f.render_widget(label("impact", *field == DeclareField::Impact), l);
            wrapped(f, v, app, impact, *field == DeclareField::Impact);
            f.render_widget(
                Line::from(vec![
                    label("drill", *field == DeclareField::Drill),
                    Span::styled(
                        if *drill { "[x] game-day drill" } else { "[ ] game-day drill" },
                        t.get("text"),
                    ),
                ]),
                rows[4],
            );
            if !services.is_empty() {
                f.render_widget(
                    Line::from(vec![
                        label("services", false),
                        Span::styled(services.join(", "), t.get("text")),
                    ]),
                    rows[5],
                );
            }
            footer(
                f,
                rows[6],
                app,
                form,
                format!(
                    "{} next field · ←/→ or 1-5 severity · space drill · {send} declares",
                    key(app, Scope::Form, Action::NextField)
                ),
            );
        }
        Form::Note { text, .. } | Form::Message { text, .. } => {
            let r = centered(area, width, 10);
            f.render_widget(Clear, r);
            let block = popup(app, form.title());
            let inner = block.inner(r);
            f.render_widget(block, r);
            let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
            wrapped(f, body, app, text, true);
            let new_line = key(app, Scope::Form, Action::NewLine);
            footer(f, foot, app, form, format!("{send} sends · {new_line} new line · {cancel} cancels"));
        }
        Form::Reason { text, .. } | Form::Assign { person: text, .. } | Form::Halt { text, .. } => {
            let r = centered(area, width, 5);
            f.render_widget(Clear, r);
            let block = popup(app, form.title());
            let inner = block.inner(r);
            f.render_widget(block, r);
            let [body, foot] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)])
                .flex(Flex::Start)
                .areas(inner);
            f.render_widget(text, body);
            let help = match form {
                Form::Assign { matches, .. } if !matches.is_empty() => {
                    format!("users: {}", matches.iter().map(|m| one_line(m)).collect::<Vec<_>>().join("  "))
                }
                Form::Assign { .. } => format!(
                    "{} completes a name · {send} sends · {cancel} cancels",
                    key(app, Scope::Form, Action::NextField)
                ),
                Form::Halt { .. } => {
                    format!("{send} HALTS every run now (straight to the server) · {cancel} cancels")
                }
                _ => format!("{send} sends · {cancel} cancels"),
            };
            footer(f, foot, app, form, help);
        }
    }
}

/// A text area drawn soft-wrapped: a long line continues on the next row instead of running
/// off the form, with the cursor kept in view. The text itself keeps only the breaks typed.
fn wrapped(f: &mut Frame, area: Rect, app: &App, text: &TextArea, active: bool) {
    let t = &app.theme;
    let cursor = t.get("text").add_modifier(Modifier::REVERSED);
    if text.is_empty() {
        let mut spans = Vec::new();
        if active {
            spans.push(Span::styled(" ", cursor));
        }
        spans.push(Span::styled(text.placeholder_text().to_string(), t.get("muted")));
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    let (crow, ccol) = text.cursor();
    let mut rows: Vec<Line> = Vec::new();
    let mut cursor_row = 0;
    for (i, line) in text.lines().iter().enumerate() {
        // One cell per char so the cursor column maps; a control char would move the terminal.
        let chars: Vec<char> = line.chars().map(|c| if c.is_control() { '·' } else { c }).collect();
        let pieces = soft_breaks(&chars, area.width as usize);
        let last = pieces.len() - 1;
        for (n, (start, end)) in pieces.into_iter().enumerate() {
            let piece: String = chars[start..end].iter().collect();
            let here = active && i == crow && ccol >= start && (ccol < end || (ccol == end && n == last));
            if !here {
                rows.push(Line::from(Span::styled(piece, t.get("text"))));
                continue;
            }
            cursor_row = rows.len();
            let at = ccol - start;
            let before: String = chars[start..ccol].iter().collect();
            let under: String = chars.get(ccol).filter(|_| ccol < end).map_or(" ".into(), |c| c.to_string());
            let after: String = chars[(start + at + 1).min(end)..end].iter().collect();
            rows.push(Line::from(vec![
                Span::styled(before, t.get("text")),
                Span::styled(under, cursor),
                Span::styled(after, t.get("text")),
            ]));
        }
    }
    let skip = (cursor_row + 1).saturating_sub(area.height as usize) as u16;
    f.render_widget(Paragraph::new(rows).scroll((skip, 0)), area);
}

fn footer(f: &mut Frame, area: Rect, app: &App, form: &Form, help: String) {
    let line = match form.error() {
        Some(e) => Span::styled(e.to_string(), app.theme.get("alert")),
        None => Span::styled(help, app.theme.get("muted")),
    };
    f.render_widget(line, area);
}

fn command_line(f: &mut Frame, area: Rect, app: &App, line: &CommandLine) {
    let t = &app.theme;
    let r = Rect { y: area.y + area.height.saturating_sub(2), height: 1, ..area };
    f.render_widget(Clear, r);
    f.render_widget(
        Line::from(vec![
            Span::styled(":", t.get("focus")),
            Span::styled(format!("{}▏", line.input), t.get("text")),
        ]),
        r,
    );
    if !line.candidates.is_empty() {
        let c = Rect { y: r.y.saturating_sub(1), ..r };
        f.render_widget(Clear, c);
        f.render_widget(Span::styled(line.candidates.join("  "), t.get("muted")), c);
    }
}
