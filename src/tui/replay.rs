//! `warroom replay INC`: an incident played back in a read-only console, as it was at each
//! event, under a position bar (time, seq, speed, status changes) — the debrief's view.

use std::io::Write;
use std::time::{Duration, Instant};

use color_eyre::eyre::WrapErr;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use tokio::sync::mpsc;

use super::app::{App, Msg, Pane};
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::{panes, Look, FRAME};
use crate::client::replay::{clock_text, speed_text, Player};
use crate::client::Client;
use crate::model::{IncidentId, State, Status};
use crate::present::one_line;
use crate::protocol::Whoami;

/// What a key can ask of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    PlayPause,
    StepBack,
    StepForward,
    SeekBack,
    SeekForward,
    Start,
    End,
    Faster,
    Slower,
    Quit,
}

/// One key: its code, whether shift must be held (`None`: either way), whether ctrl must.
#[derive(Debug, Clone, Copy)]
struct Binding {
    code: KeyCode,
    shift: Option<bool>,
    ctrl: bool,
}

const fn key(code: KeyCode) -> Binding {
    Binding { code, shift: None, ctrl: false }
}

const fn plain(code: KeyCode) -> Binding {
    Binding { code, shift: Some(false), ctrl: false }
}

const fn shifted(code: KeyCode) -> Binding {
    Binding { code, shift: Some(true), ctrl: false }
}

/// Every control's keys and its hint (keys as the hint bar writes them, and what they do;
/// empty for the second of a pair hinted together): listed once, so the hints and the
/// handling cannot drift.
const CONTROLS: &[(Control, &[Binding], &str, &str)] = &[
    (Control::PlayPause, &[key(KeyCode::Char(' '))], "space", "play/pause"),
    (Control::StepBack, &[plain(KeyCode::Left)], "←/→", "step"),
    (Control::StepForward, &[plain(KeyCode::Right)], "", ""),
    (Control::SeekBack, &[shifted(KeyCode::Left), key(KeyCode::Char('['))], "[/]", "±1 min"),
    (Control::SeekForward, &[shifted(KeyCode::Right), key(KeyCode::Char(']'))], "", ""),
    (Control::Start, &[key(KeyCode::Home)], "home/end", "start/end"),
    (Control::End, &[key(KeyCode::End)], "", ""),
    (Control::Faster, &[key(KeyCode::Char('+')), key(KeyCode::Char('='))], "+/-", "speed"),
    (Control::Slower, &[key(KeyCode::Char('-'))], "", ""),
    (
        Control::Quit,
        &[
            key(KeyCode::Char('q')),
            key(KeyCode::Esc),
            Binding { code: KeyCode::Char('c'), shift: None, ctrl: true },
        ],
        "q",
        "quit",
    ),
];

/// The control `key` asks for, if any.
pub fn control(key: &KeyEvent) -> Option<Control> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    CONTROLS.iter().find_map(|(c, keys, _, _)| {
        keys.iter()
            .any(|b| b.code == key.code && b.ctrl == ctrl && b.shift.is_none_or(|s| s == shift))
            .then_some(*c)
    })
}

/// How far `[` and `]` move, in incident time.
const SEEK: chrono::Duration = chrono::Duration::minutes(1);

/// Rows of the position bar: a frame around where the replay is and the track.
const BAR_ROWS: u16 = 4;

/// Wide enough to show the playbook beside the incident.
const WIDE: u16 = 140;

/// The replay console: a player, and a console `App` that only draws (its state is the
/// incident as at the position), read-only throughout.
pub struct ReplayConsole {
    pub player: Player,
    view: App,
    me: Option<Whoami>,
    pub dirty: bool,
}

impl ReplayConsole {
    /// `now`: the replay's clock (time since any fixed origin), as every later call gets it.
    pub fn new(player: Player, look: &Look, server: &str, me: Option<Whoami>) -> ReplayConsole {
        let first = player.replay().events().first().map_or(chrono::DateTime::UNIX_EPOCH, |e| e.at);
        let mut view =
            App::new(server, look.keymap.clone(), look.themes.clone(), look.theme.clone(), first).solo();
        view.zoom = false;
        // The newest entry shown is the one just played: marked as the detail pane marks it.
        view.focus = Pane::Detail;
        view.absolute_time = true;
        view.conn.online = true;
        view.conn.problem = None;
        view.conn.last_sync = Some(first);
        view.me = me.clone();
        let mut console = ReplayConsole { player, view, me, dirty: true };
        console.show();
        console
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.view.size = Rect::new(0, 0, width, height);
        self.dirty = true;
    }

    /// Brings the position up to `now` while playing.
    pub fn tick(&mut self, now: Duration) {
        if self.player.tick(now) {
            self.show();
        }
    }

    /// A key; true when it quits.
    pub fn key(&mut self, key: &KeyEvent, now: Duration) -> bool {
        let Some(c) = control(key) else { return false };
        let p = &mut self.player;
        match c {
            Control::Quit => return true,
            Control::PlayPause => p.toggle(now),
            Control::StepBack => p.step_back(now),
            Control::StepForward => p.step_forward(now),
            Control::SeekBack => p.seek_by(-SEEK, now),
            Control::SeekForward => p.seek_by(SEEK, now),
            Control::Start => p.home(now),
            Control::End => p.end(now),
            Control::Faster => p.faster(now),
            Control::Slower => p.slower(now),
        }
        self.show();
        false
    }

    /// Points the drawing app at the position: the incident as it was, its chaos runs, the
    /// probes, and the position's time as "now" (ages and clocks as they read then).
    fn show(&mut self) {
        let replay = self.player.replay();
        let state = replay.state();
        let id = replay.incident_id();
        let mut shown = State { seq: state.seq, probes: state.probes.clone(), ..State::default() };
        if let Some(inc) = replay.incident() {
            let mut chaos =
                crate::model::chaos::Chaos { disarmed: state.chaos.disarmed.clone(), ..Default::default() };
            if let Some(run) = inc.caused_by.and_then(|r| state.chaos.runs.get(&r)) {
                chaos.runs.insert(run.id, run.clone());
            }
            shown.chaos = chaos;
            shown.incidents.insert(id, std::sync::Arc::new(inc.clone()));
        }
        self.view.state = shown;
        self.view.selected = Some(id);
        self.view.now = replay.event().at;
        self.view.conn.last_sync = Some(replay.event().at);
        self.dirty = true;
    }

    pub fn draw(&self, f: &mut Frame) {
        let t = &self.view.theme;
        let full = f.area();
        if full.width < MIN_WIDTH || full.height < MIN_HEIGHT {
            let msg = vec![
                Line::from(Span::styled("terminal too small", t.get("alert"))),
                Line::from(Span::styled(
                    format!("{}×{} — warroom needs {MIN_WIDTH}×{MIN_HEIGHT}", full.width, full.height),
                    t.get("muted"),
                )),
            ];
            let y = full.height / 2;
            f.render_widget(
                Paragraph::new(msg).centered(),
                Rect { y, height: 2.min(full.height - y), ..full },
            );
            return;
        }
        let [main, bar, hints] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(BAR_ROWS), Constraint::Length(1)])
                .areas(full);
        if full.width >= WIDE {
            let [detail, playbook] =
                Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(main);
            panes::detail::draw(f, detail, &self.view);
            self.draw_playbook(f, playbook);
        } else {
            panes::detail::draw(f, main, &self.view);
        }
        self.draw_bar(f, bar);
        self.draw_hints(f, hints);
    }

    /// The playbook as it was; before one was attached, says so (nothing can be attached here).
    fn draw_playbook(&self, f: &mut Frame, area: Rect) {
        let has = self.view.selected_incident().is_some_and(|i| i.checklist.is_some());
        if has {
            panes::playbook::draw(f, area, &self.view);
            return;
        }
        let t = &self.view.theme;
        let block =
            panes::frame(&self.view, Pane::Playbook, Line::from(Span::styled(" Playbook ", t.get("title"))));
        let text = Paragraph::new(Span::styled("no playbook attached yet", t.get("muted"))).block(block);
        f.render_widget(text, area);
    }

    /// Two lines in a frame: where the replay is, and the bar with its status markers.
    fn draw_bar(&self, f: &mut Frame, area: Rect) {
        let t = &self.view.theme;
        let p = &self.player;
        let r = p.replay();
        let who =
            self.me.as_ref().map_or(String::new(), |m| format!("· {} ({}) ", one_line(&m.name), m.role));
        let title = Line::from(vec![
            Span::styled(format!(" Replay {} ", r.incident_id()), t.get("title")),
            Span::styled(format!("read-only {who}"), t.get("muted")),
        ]);
        let block = Block::default()
            .borders(Borders::TOP | Borders::BOTTOM)
            .border_style(t.get("border"))
            .title(title);
        let inner = block.inner(area);
        f.render_widget(block, area);
        if inner.height == 0 {
            return;
        }
        let (mode, style) = if p.is_playing() {
            ("▶ playing", t.get("ok"))
        } else if p.at_end() {
            ("■ end", t.get("muted"))
        } else {
            ("❚❚ paused", t.get("warn"))
        };
        let e = r.event();
        let total = r.elapsed(r.len() - 1);
        let mut line = vec![
            Span::styled(format!("{mode:<10}"), style),
            Span::styled(format!("T+{}", clock_text(r.elapsed(r.position()))), t.get("title")),
            Span::styled(format!(" of {}  ", clock_text(total)), t.get("muted")),
            Span::styled("seq ", t.get("muted")),
            Span::styled(format!("{}", e.seq), t.get("text")),
            Span::styled(format!(" ({}/{})  ", r.position() + 1, r.len()), t.get("muted")),
            Span::styled(speed_text(p.speed()), t.get("text")),
            Span::styled("  ", t.get("muted")),
            Span::styled(format!("{} ", e.at.format("%H:%M:%S")), t.get("muted")),
        ];
        let what = if e.actor.is_empty() {
            e.fact.kind().to_string()
        } else {
            format!("{} {}", one_line(&e.actor), e.fact.kind())
        };
        let concerns = if r.concerns(r.position()) { t.get("text") } else { t.get("muted") };
        line.push(Span::styled(what, concerns));
        if p.is_playing() && p.schedule().shortened(r.position() + 1) {
            line.push(Span::styled("  ≈ quiet stretch cut short", t.get("muted")));
        }
        f.render_widget(Line::from(line), Rect { height: 1, ..inner });
        if inner.height > 1 {
            let bar = Rect { y: inner.y + 1, height: 1, ..inner };
            f.render_widget(self.track(bar.width as usize), bar);
        }
    }

    /// The track: played and to come, the playhead, where the status changed (the status's
    /// letter in its colour) and where quiet stretches were cut (`≈`), on the replay's time.
    fn track(&self, width: usize) -> Line<'static> {
        let t = &self.view.theme;
        let p = &self.player;
        let s = p.schedule();
        let total = s.total().as_secs_f64();
        let col = |offset: Duration| -> usize {
            if total <= 0.0 || width < 2 {
                return 0;
            }
            ((offset.as_secs_f64() / total) * (width - 1) as f64).round() as usize
        };
        let r = p.replay();
        let head = if r.len() < 2 { width.saturating_sub(1) } else { col(s.offset(r.position())) };
        let mut cells: Vec<(String, ratatui::style::Style)> = (0..width)
            .map(|c| {
                if c < head {
                    ("━".to_string(), t.get("focus"))
                } else {
                    ("─".to_string(), t.get("border"))
                }
            })
            .collect();
        // Midway along the stretch that was cut.
        for pos in (1..r.len()).filter(|&i| s.shortened(i)) {
            if let Some(cell) = cells.get_mut((col(s.offset(pos - 1)) + col(s.offset(pos))) / 2) {
                *cell = ("≈".into(), t.get("muted"));
            }
        }
        for (pos, status) in r.markers() {
            if let Some(cell) = cells.get_mut(col(s.offset(pos))) {
                *cell = (status_letter(status).into(), t.status(status));
            }
        }
        if let Some(cell) = cells.get_mut(head) {
            *cell = ("●".into(), t.get("title"));
        }
        Line::from(cells.into_iter().map(|(c, st)| Span::styled(c, st)).collect::<Vec<_>>())
    }

    /// The keys, from [`CONTROLS`]; quitting is shown whatever the width.
    fn draw_hints(&self, f: &mut Frame, area: Rect) {
        let t = &self.view.theme;
        let hint = |keys: &str, what: &str| {
            [
                Span::styled(keys.to_string(), t.get("focus")),
                Span::styled(format!(" {what}  "), t.get("muted")),
            ]
        };
        let shown = |c: &&(Control, &[Binding], &str, &str)| !c.2.is_empty();
        let quit: Vec<Span> = CONTROLS
            .iter()
            .filter(shown)
            .filter(|c| c.0 == Control::Quit)
            .flat_map(|c| hint(c.2, c.3))
            .collect();
        let mut room = (area.width as usize).saturating_sub(quit.iter().map(|s| s.width()).sum());
        let mut spans = Vec::new();
        for (_, _, keys, what) in CONTROLS.iter().filter(shown).filter(|c| c.0 != Control::Quit) {
            let pair = hint(keys, what);
            let w: usize = pair.iter().map(|s| s.width()).sum();
            if w > room {
                break;
            }
            room -= w;
            spans.extend(pair);
        }
        spans.extend(quit);
        f.render_widget(Line::from(spans), area);
    }
}

/// The letter a status change is marked with on the bar (colour says it too, where there is).
pub fn status_letter(s: Status) -> &'static str {
    match s {
        Status::Declared => "D",
        Status::Investigating => "I",
        Status::Mitigating => "m",
        Status::Mitigated => "M",
        Status::Postmortem => "P",
        Status::Closed => "C",
    }
}

/// Loads incident `id`'s replay (before the terminal is taken, so a refusal is a plain
/// message), then plays it until `q`. Nothing is sent: an observer's token is enough.
pub async fn run(
    client: Client,
    look: Look,
    id: IncidentId,
    speed: f64,
    max_gap: Duration,
) -> color_eyre::Result<()> {
    let replay = client.replay(id).await.wrap_err_with(|| format!("loading {id} to replay"))?;
    let me = client.whoami().await.ok();
    let start = Instant::now();
    let player = Player::new(replay, speed, max_gap, start.elapsed());
    let console = ReplayConsole::new(player, &look, client.base(), me);
    let mut terminal = super::enter();
    let result = play(&mut terminal, console, start).await;
    super::leave(terminal);
    result
}

async fn play(
    terminal: &mut ratatui::DefaultTerminal,
    mut console: ReplayConsole,
    start: Instant,
) -> color_eyre::Result<()> {
    let (mut input, _gate) = super::read_input()?;
    let (tx, mut rx) = mpsc::channel::<Msg>(16);
    let tasks = [tokio::spawn(super::signals(tx.clone())), tokio::spawn(super::clock(tx))];
    let size = terminal.size().unwrap_or_default();
    console.resize(size.width, size.height);
    let mut stdout = std::io::stdout();
    'run: loop {
        console.tick(start.elapsed());
        if console.dirty {
            crossterm::queue!(stdout, BeginSynchronizedUpdate)?;
            terminal.draw(|f| {
                console.draw(f);
                crate::tui::view::no_controls(f.buffer_mut());
            })?;
            crossterm::execute!(stdout, EndSynchronizedUpdate)?;
            stdout.flush()?;
            console.dirty = false;
        }
        // Asleep until the next event is due (never sooner than a frame) or a key comes.
        let due = console.player.next_due(start.elapsed()).map(|d| d.max(FRAME));
        let first = match due {
            Some(d) => match tokio::time::timeout(d, super::next(&mut rx, &mut input)).await {
                Ok(m) => m,
                Err(_) => continue,
            },
            None => super::next(&mut rx, &mut input).await,
        };
        let Some(first) = first else { break };
        let mut msg = Some(first);
        while let Some(m) = msg {
            let now = start.elapsed();
            match m {
                Msg::Quit => break 'run,
                Msg::Key(k) if console.key(&k, now) => break 'run,
                Msg::Resize(w, h) => console.resize(w, h),
                _ => {}
            }
            msg = rx.try_recv().ok().or_else(|| input.try_recv().ok());
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}
