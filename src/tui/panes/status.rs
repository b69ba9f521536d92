//! The two bottom lines: the keys of the focused pane or open overlay (from the keymap, so they
//! cannot drift), and the status bar: connection, who you are, queued commands, sync, flash.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::model::incident::format_duration;
use crate::present::one_line;
use crate::tui::app::{App, Level};
use crate::tui::keymap::Action;

/// How to get past a refused token, said wherever the refusal shows.
pub const SIGN_IN_FIX: &str =
    "set WARROOM_TOKEN (or token in config.toml) to a token from the server's config, then restart";

const HINTED: &[Action] = &[
    Action::StartScenario,
    Action::StopRun,
    Action::HaltAll,
    Action::ArmChaos,
    Action::SwitchUser,
    Action::StatsRange,
    Action::Open,
    Action::Tick,
    Action::Compose,
    Action::DeclareFromProbe,
    Action::Declare,
    Action::Note,
    Action::Status,
    Action::Severity,
    Action::Assign,
    Action::Filter,
    Action::Zoom,
    Action::Chaos,
    Action::Scoreboard,
    Action::Postmortem,
    Action::CommandLine,
    Action::Help,
    Action::Quit,
];

pub fn draw_hints(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let scope = app.key_scope();
    // An overlay's layer is short: all of its hinted actions, in the table's order. The
    // scoreboard alone only reads.
    let hinted: &[Action] = if scope.is_overlay() {
        Action::ALL
    } else if app.solo {
        &[Action::Help, Action::Quit]
    } else {
        HINTED
    };
    // Chaos controls a role may not use are greyed, not hidden: the key exists, it is not yours.
    let may_chaos = app.may_drive_chaos();
    let hint = |action: Action| {
        let first = app.keymap.first_key(scope, action)?;
        let chaos =
            matches!(action, Action::StartScenario | Action::StopRun | Action::HaltAll | Action::ArmChaos);
        // Outside the chaos pane only halt-all is offered: it works from anywhere.
        if chaos && scope != crate::tui::keymap::Scope::Chaos && action != Action::HaltAll {
            return None;
        }
        if chaos
            && action == Action::HaltAll
            && !app.chaos_banner()
            && scope != crate::tui::keymap::Scope::Chaos
        {
            return None;
        }
        // The chaos pane's key is offered to those who drive chaos, and to all while it runs,
        // unless a game day hides chaos from this hero.
        if action == Action::Chaos
            && (!(app.chaos_banner() || (may_chaos && app.me.is_some())) || app.chaos_hidden().is_some())
        {
            return None;
        }
        // Filtering works from any pane, but is hinted where the list is.
        if action == Action::Filter && scope != crate::tui::keymap::Scope::Incidents {
            return None;
        }
        // The postmortem's where the incident is read.
        if action == Action::Postmortem && scope != crate::tui::keymap::Scope::Detail {
            return None;
        }
        // The scoreboard's, once there is a game day.
        if action == Action::Scoreboard && app.state.gamedays.is_empty() && app.board.view.is_none() {
            return None;
        }
        // The demo's switch names who it switches to; other consoles have no one to become.
        let label = match action {
            Action::SwitchUser => format!("{}: {}", action.hint(), app.switch_hint()?),
            _ => action.hint().to_string(),
        };
        // So are the incident actions the role may not take (an observer's, a villain's, a
        // responder's hand-over), by the same permission table the server enforces.
        let key_style =
            if (chaos && !may_chaos) || !app.may_act(action) { t.get("muted") } else { t.get("focus") };
        Some([Span::styled(first, key_style), Span::styled(format!(" {label}  "), t.get("muted"))])
    };
    // Help and quit are kept whatever the width: the rest fill what is left, in order.
    let kept: Vec<Span> = [Action::Help, Action::Quit].into_iter().filter_map(hint).flatten().collect();
    let mut room = (area.width as usize).saturating_sub(kept.iter().map(|s| s.width()).sum());
    let mut spans = Vec::new();
    for action in hinted.iter().filter(|a| !a.hint().is_empty() && !matches!(a, Action::Help | Action::Quit))
    {
        let Some(pair) = hint(*action) else { continue };
        let w: usize = pair.iter().map(|s| s.width()).sum();
        if w > room {
            break;
        }
        room -= w;
        spans.extend(pair);
    }
    spans.extend(kept);
    f.render_widget(Line::from(spans), area);
}

/// The status bar. A flash (a refusal, an alert) is never cut: when it does not fit beside
/// the connection it takes the hint row above as well, for as long as it shows.
pub fn draw_status(f: &mut Frame, hints: Rect, area: Rect, app: &App) {
    let t = &app.theme;
    let mut left = Vec::new();
    if app.not_signed_in.is_some() {
        left.push(Span::styled("✖ not signed in: the server refused this token", t.get("alert")));
    } else if app.conn.online {
        left.push(Span::styled("● online", t.get("ok")));
    } else {
        let since = app.conn.since.map(|s| format!(" {}", format_duration(app.now - s))).unwrap_or_default();
        left.push(Span::styled(format!("○ OFFLINE{since}"), t.get("alert")));
    }
    let who = match &app.me {
        Some(me) => format!(" {} ({})", one_line(&me.name), me.role),
        None => " …".to_string(),
    };
    let style = if app.me.as_ref().is_some_and(|m| m.role == crate::model::UserRole::Villain) {
        t.get("villain")
    } else {
        t.get("text")
    };
    left.push(Span::styled(who, style));
    let server = Span::styled(format!(" @ {}", app.server.trim_start_matches("http://")), t.get("muted"));
    let mut rest = vec![Span::styled(" │ ", t.get("border"))];
    if app.solo {
        // Nothing is ever sent from here: no queue to count.
        rest.push(Span::styled("read-only", t.get("muted")));
    } else {
        rest.push(Span::styled(
            format!("{} queued", app.queued),
            if app.queued > 0 { t.get("warn") } else { t.get("muted") },
        ));
    }
    // Online the stream is live (heartbeats prove it): an age there read as stale.
    // Offline the age is how old everything on screen is.
    if let Some(age) = app.stale() {
        rest.push(Span::styled(format!(" │ view {} old", format_duration(age)), t.get("warn")));
    } else if app.conn.online {
        rest.push(Span::styled(" │ live", t.get("ok")));
    }
    let width = |spans: &[Span]| spans.iter().map(|s| s.width()).sum::<usize>();
    let mut tail = Vec::new();
    if let Some(flash) = &app.flash {
        let style = match flash.level {
            Level::Info => t.get("ok"),
            Level::Warn => t.get("warn"),
            Level::Error => t.get("alert"),
        };
        tail.push(Span::styled(" │ ", t.get("border")));
        tail.push(Span::styled(one_line(&flash.text), style));
    } else if app.not_signed_in.is_some() {
        tail.push(Span::styled(" │ ", t.get("border")));
        tail.push(Span::styled(SIGN_IN_FIX, t.get("warn")));
    } else if let (false, Some(problem)) = (app.conn.online, &app.conn.problem) {
        tail.push(Span::styled(" │ ", t.get("border")));
        tail.push(Span::styled(one_line(problem), t.get("muted")));
    }
    let room = area.width as usize;
    let mut all = left.clone();
    all.push(server);
    all.extend(rest.iter().cloned());
    let line = if width(&all) + width(&tail) <= room {
        all.extend(tail);
        all
    } else {
        // Drop the server's address first: you chose it, the message is news.
        let mut short = left;
        short.extend(rest);
        if width(&short) + width(&tail) <= room {
            short.extend(tail);
            short
        } else {
            let mut over = tail.into_iter().skip(1).collect::<Vec<_>>();
            if app.flash.is_some() {
                // The message gets the hint row, the bar keeps the connection.
                over.insert(0, Span::raw(" "));
                f.render_widget(ratatui::widgets::Clear, hints);
                f.render_widget(Line::from(over), hints);
            }
            short
        }
    };
    f.render_widget(Line::from(line), area);
}
