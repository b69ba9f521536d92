//! The incident pane: a header (severity, status, roles, milestones, derived durations)
//! over the timeline. Only the entries that fit are laid out, walking back from the newest
//! visible one, so a 50,000-entry timeline costs what a screenful does.

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::frame;
use crate::model::incident::format_duration;
use crate::model::{Incident, Intent, Milestone, TimelineEntry};
use crate::present::{age, escape_control, one_line};
use crate::tui::app::{App, Pane};
use crate::tui::form::soft_breaks;
use crate::tui::theme::severity_glyph;

const GUTTER: usize = 30;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some(inc) = app.selected.and_then(|id| app.state.incidents.get(&id)) else {
        let block = frame(app, Pane::Detail, Line::from(Span::styled(" Incident ", t.get("title"))));
        let hint = Paragraph::new(Span::styled("no incident selected", t.get("muted"))).block(block);
        f.render_widget(hint, area);
        return;
    };
    let mut title = vec![
        Span::styled(format!(" {} ", inc.id), t.get("title")),
        Span::styled(format!("{} ", one_line(&inc.title)), t.get("text")),
    ];
    title.extend(super::stale_mark(app));
    let title = Line::from(title);
    let block = frame(app, Pane::Detail, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let header = header_lines(app, inc);
    let header_h = (header.len() as u16).min(inner.height.saturating_sub(2));
    f.render_widget(Paragraph::new(header), Rect { height: header_h, ..inner });
    let rest = Rect { y: inner.y + header_h, height: inner.height - header_h, ..inner };
    if rest.height == 0 {
        return;
    }
    let len = inc.timeline_len();
    let state = if !inc.is_full() {
        // A closed incident held as a summary: the rest is on its way (see `App::update`).
        let held = inc.timeline.len();
        if app.conn.online {
            format!("{} earlier entries loading", len.saturating_sub(held as u64))
        } else {
            format!("{} earlier entries on the server (offline)", len.saturating_sub(held as u64))
        }
    } else if app.timeline.follow {
        "following".to_string()
    } else {
        format!("{} newer below · G follows", app.timeline.offset)
    };
    let rule =
        format!("─ timeline ({len}) · {state} · times {} ", if app.absolute_time { "UTC" } else { "ago" });
    let mut rule_line = rule.clone();
    let width = rest.width as usize;
    let pad = width.saturating_sub(rule.chars().count());
    rule_line.push_str(&"─".repeat(pad));
    f.render_widget(Span::styled(rule_line, t.get("border")), Rect { height: 1, ..rest });
    let body = Rect { y: rest.y + 1, height: rest.height - 1, ..rest };
    // What I sent that the log has not shown back yet goes last, as the log will have it.
    let pending = pending_lines(app, inc);
    let ph = (pending.len() as u16).min(body.height / 2);
    let log = Rect { height: body.height - ph, ..body };
    f.render_widget(Paragraph::new(timeline_lines(app, inc, log.height as usize, log.width as usize)), log);
    let tail = pending.len() - ph as usize;
    f.render_widget(
        Paragraph::new(pending.into_iter().skip(tail).collect::<Vec<_>>()),
        Rect { y: log.y + log.height, height: ph, ..body },
    );
}

/// My commands on this incident not yet in the log (queued offline, or in flight), each
/// with the time it was written: they are part of the story already.
fn pending_lines<'a>(app: &App, inc: &Incident) -> Vec<Line<'a>> {
    let t = &app.theme;
    let me = app.my_name().unwrap_or("you");
    app.pending
        .iter()
        .filter(|p| p.intent.incident() == Some(inc.id))
        .map(|p| {
            let what = match &p.intent {
                Intent::AddNote { text, .. } => text.clone(),
                Intent::SendMessage { channel, text, .. } => format!("→ {channel}: {text}"),
                Intent::SetStatus { status, .. } => format!("status → {status}"),
                Intent::SetSeverity { severity, .. } => format!("severity → {severity}"),
                Intent::AssignRole { role, person, .. } => format!("{role} → {person}"),
                other => other.kind().replace('_', " "),
            };
            Line::from(vec![
                Span::styled(format!("{:>8} ", when(app, p.written)), t.get("muted")),
                Span::styled(format!("{:<10.10} ", one_line(me)), t.get("text")),
                Span::styled("⧗ pending ", t.get("warn")),
                Span::styled(
                    format!("{} (written {})", one_line(&what), p.written.format("%H:%M:%S")),
                    t.get("muted"),
                ),
            ])
        })
        .collect()
}

fn when(app: &App, at: DateTime<Utc>) -> String {
    if app.absolute_time {
        at.format("%H:%M:%S").to_string()
    } else {
        age(at, app.now)
    }
}

fn header_lines<'a>(app: &App, inc: &'a Incident) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut first = vec![
        Span::styled(format!("{} {}", severity_glyph(inc.severity), inc.severity), t.severity(inc.severity)),
        Span::raw(" "),
        Span::styled(inc.status.as_str(), t.status(inc.status)),
    ];
    if let Some(c) = inc.closure {
        first.push(Span::styled(format!(" ({c})"), t.get("muted")));
    }
    if inc.private {
        let members = inc.members.iter().map(|m| one_line(m)).collect::<Vec<_>>().join(", ");
        let who = if members.is_empty() { String::new() } else { format!(" (members: {members})") };
        first.push(Span::styled(format!("  PRIVATE{who}"), t.get("warn")));
    }
    if inc.drill {
        first.push(Span::styled("  DRILL", t.get("drill")));
    }
    first.push(Span::styled(
        format!("  declared by {} {} ago", one_line(&inc.declared_by), age(inc.declared_at(), app.now)),
        t.get("muted"),
    ));
    let mut lines = vec![Line::from(first)];
    if !inc.impact.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("impact ", t.get("muted")),
            Span::styled(one_line(&inc.impact), t.get("text")),
        ]));
    }
    if let Some(run) = inc.caused_by {
        // A game day's incident says which run broke things: the villain's side of the story.
        let what = app.state.chaos.runs.get(&run).map_or(String::new(), |r| {
            format!(" {} ({}, {})", one_line(&r.scenario.id), one_line(&r.started_by), r.phase)
        });
        lines.push(Line::from(vec![
            Span::styled("chaos  ", t.get("muted")),
            Span::styled(format!("caused by {run}{what}"), t.get("villain")),
        ]));
    }
    let mut roles = vec![Span::styled("roles  ", t.get("muted"))];
    for (i, (role, person)) in inc.roles.iter().enumerate() {
        if i > 0 {
            roles.push(Span::styled(" · ", t.get("muted")));
        }
        let name = match role {
            crate::model::Role::IncidentCommander => "IC",
            crate::model::Role::Deputy => "deputy",
            crate::model::Role::Scribe => "scribe",
            crate::model::Role::SubjectMatterExpert => "SME",
            crate::model::Role::CustomerLiaison => "customer",
            crate::model::Role::InternalLiaison => "internal",
        };
        roles.push(Span::styled(format!("{name} "), t.get("muted")));
        roles.push(Span::styled(one_line(person), t.get("text")));
    }
    lines.push(Line::from(roles));
    let d = inc.durations();
    let show = |d: Option<chrono::Duration>| d.map(format_duration).unwrap_or_else(|| "–".into());
    let metric = |label: &'static str, v: String| {
        vec![Span::styled(label, t.get("muted")), Span::styled(v, t.get("text")), Span::raw("  ")]
    };
    let mut m = Vec::new();
    m.extend(metric("detect ", show(d.time_to_detect)));
    m.extend(metric("ack ", show(d.time_to_acknowledge)));
    m.extend(metric("mitigate ", show(d.time_to_mitigate)));
    m.extend(metric("recover ", show(d.time_to_recover)));
    lines.push(Line::from(m));
    let mut ms = vec![Span::styled("times  ", t.get("muted"))];
    for milestone in Milestone::ALL {
        if let Some(at) = inc.milestone(*milestone) {
            ms.push(Span::styled(format!("{milestone} "), t.get("muted")));
            ms.push(Span::styled(format!("{}  ", at.format("%H:%M")), t.get("text")));
        }
    }
    lines.push(Line::from(ms));
    // The most urgent communication clock: communicate first.
    let mut clocks = crate::model::comms::clocks(inc);
    clocks.sort_by_key(|c| c.due);
    if let Some(c) = clocks.first() {
        let style = if c.overdue(app.now) { t.get("alert") } else { t.get("warn") };
        let more = if clocks.len() > 1 {
            format!("  (+{} more in the playbook pane)", clocks.len() - 1)
        } else {
            String::new()
        };
        lines.push(Line::from(vec![
            Span::styled("comms  ", t.get("muted")),
            Span::styled(crate::model::comms::describe(c, app.now), style),
            Span::styled(more, t.get("muted")),
        ]));
    } else if let Some(shown) = stale_public_status(inc) {
        // The clocks stopped, but the public page still says it is going on.
        lines.push(Line::from(vec![
            Span::styled("comms  ", t.get("muted")),
            Span::styled(format!("the status page still shows {shown}: send the all-clear"), t.get("alert")),
        ]));
    }
    lines.extend(super::actions::detail_lines(app, inc));
    lines
}

/// What the public status page still says of an incident that is over for us (postmortem
/// or closed) while no all-clear was published: `None` when the page says fixed, or never
/// showed it.
fn stale_public_status(inc: &Incident) -> Option<crate::model::comms::PublicStatus> {
    use crate::model::comms::{public_status, PublicStatus};
    let over = matches!(inc.status, crate::model::Status::Postmortem | crate::model::Status::Closed);
    public_status(inc).filter(|s| over && *s != PublicStatus::Fixed)
}

/// The entry's text (escaped), soft-wrapped at `width`: every word of it is shown, none
/// is cut at the pane's edge.
fn entry_text(e: &TimelineEntry, width: usize) -> Vec<String> {
    // Tabs (pasted tables) become spaces, as in the reader: a terminal would jump them.
    let summary = escape_control(&e.kind.summary()).replace('\t', "    ");
    let mut lines = Vec::new();
    for line in summary.lines() {
        let chars: Vec<char> = line.chars().collect();
        for (a, b) in soft_breaks(&chars, width) {
            lines.push(chars[a..b].iter().collect::<String>().trim_end().to_string());
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

fn timeline_lines<'a>(app: &App, inc: &'a Incident, height: usize, width: usize) -> Vec<Line<'a>> {
    let t = &app.theme;
    let len = inc.timeline.len();
    if len == 0 || height == 0 {
        return vec![];
    }
    let newest = len - 1 - app.timeline.offset.min(len - 1);
    // Walk back from the newest visible entry until the screen is full.
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    // The newest entry shown is the one Enter opens: marked while the pane has the keys.
    let cursor = app.focus == Pane::Detail;
    for e in inc.timeline[..=newest].iter().rev() {
        let style: Style = t.entry(&e.kind);
        let marked = cursor && blocks.is_empty();
        let text = entry_text(e, width.saturating_sub(GUTTER).max(10));
        let mut block = Vec::with_capacity(text.len());
        for (i, line) in text.into_iter().enumerate() {
            if i == 0 {
                block.push(Line::from(vec![
                    Span::styled(format!("{:>8} ", when(app, e.at)), t.get("muted")),
                    Span::styled(format!("{:<10.10} ", one_line(&e.actor)), t.get("text")),
                    Span::styled(format!("{:<9} ", e.kind.tag()), style),
                    Span::styled(line, style),
                ]));
            } else {
                block.push(Line::from(vec![Span::raw(" ".repeat(GUTTER)), Span::styled(line, style)]));
            }
        }
        if marked {
            block = block.into_iter().map(|l| l.patch_style(t.get("selection"))).collect();
        }
        used += block.len();
        blocks.push(block);
        if used >= height {
            break;
        }
    }
    let only_newest = blocks.len() == 1;
    let mut lines: Vec<Line> = blocks.into_iter().rev().flatten().collect();
    if lines.len() > height {
        if only_newest {
            // The newest entry alone is taller than the pane: its head (when, who, what) says
            // more than its tail; Enter reads it whole.
            lines.truncate(height);
        } else {
            // Keep the newest lines when the oldest entry only partly fits.
            lines.drain(..lines.len() - height);
        }
    }
    lines
}
