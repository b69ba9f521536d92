//! The console. Terminal events, sync events, the 1 Hz clock and outbox results all become
//! `Msg`s; the loop drains every queued message, then draws once if anything changed, inside
//! a synchronized update. Idle means no wake-ups but the clock. The demo's console can end
//! one user's session and start another's on the same terminal (`U`, `:as`).

pub mod app;
pub mod command;
pub mod external;
pub mod form;
pub mod keymap;
pub mod layout;
pub mod merge;
pub mod overlay;
pub mod panes;
pub mod postmortem;
pub mod replay;
pub mod scoreboard;
pub mod theme;
pub mod view;

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use color_eyre::eyre::{eyre, WrapErr};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use tokio::sync::mpsc;

use crate::client::outbox::Outbox;
use crate::client::sync::{follow, SyncEvent};
use crate::client::Client;
use crate::config::{self, ClientConfig, UserConfig};
use app::{App, Effect, Msg};
use keymap::Keymap;
use theme::Themes;

/// How the console looks and which keys it uses, resolved before the terminal is touched so
/// a bad config is a plain error message.
pub struct Look {
    pub keymap: Keymap,
    pub themes: Themes,
    pub theme: theme::Theme,
    /// Ring the terminal bell on alerts (config `bell`, off with `--quiet`).
    pub bell: bool,
}

impl Look {
    /// `--theme`, else mono under `NO_COLOR`, else `theme` in config.toml, else default.
    pub fn load(theme_flag: Option<&str>) -> color_eyre::Result<Look> {
        let cfg = ClientConfig::load_default()?;
        let config_path = config::config_dir().join("config.toml");
        let keymap =
            Keymap::with_overrides(&cfg.keys).map_err(|e| eyre!("{}: {e}", config_path.display()))?;
        let themes = Themes::load(Some(&config::config_dir().join("themes")))?;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let name = theme_flag
            .map(str::to_string)
            .or_else(|| no_color.then(|| "mono".to_string()))
            .or(cfg.theme)
            .unwrap_or_else(|| "default".into());
        let theme = themes
            .get(&name)
            .cloned()
            .ok_or_else(|| eyre!("no theme `{name}` (have: {})", themes.names().join(", ")))?;
        Ok(Look { keymap, themes, theme, bell: cfg.bell.unwrap_or(true) })
    }
}

/// At most one frame per this long; input is still handled at once.
const FRAME: Duration = Duration::from_millis(16);

/// The demo's users, so its console can become any of them; only `warroom demo` knows every
/// token, so a console started any other way gets none and never offers a switch.
pub struct DemoUsers {
    pub users: Vec<UserConfig>,
    /// Who the console starts as: an index into `users`.
    pub first: usize,
}

/// How a console session ended.
enum Ended {
    Quit,
    /// The demo: start again as this user.
    Switch(String),
}

/// A switched-to console draws nothing until it has its state, who it is and its catalogue
/// (or this long has passed), so the screen goes from one user's view to the next in one
/// redraw instead of through an empty "connecting…" frame.
const SWITCH_HOLD: Duration = Duration::from_secs(1);

/// Runs the console against `client` until the user quits; commands made offline wait in
/// an outbox under `data_dir` (the demo: under `data_dir/NAME`, one per user).
pub async fn run(
    client: Client,
    look: Look,
    data_dir: &std::path::Path,
    demo: Option<DemoUsers>,
) -> color_eyre::Result<()> {
    let mut terminal = enter();
    let result = sessions(&mut terminal, client, look, data_dir, demo).await;
    leave(terminal);
    result
}

/// Takes the terminal: alternate screen, raw mode, mouse and paste on. ratatui's hook
/// restores the screen on panic; mouse and paste modes are ours to undo.
fn enter() -> ratatui::DefaultTerminal {
    let terminal = ratatui::init();
    let restore_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture, DisableBracketedPaste);
        restore_hook(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste);
    terminal
}

/// Gives the terminal back as it was.
fn leave(mut terminal: ratatui::DefaultTerminal) {
    // The terminal may be gone (closed window, SIGHUP): restoring must not print, because
    // eprintln! to a dead terminal panics and the demo's cleanup would never run.
    let _ = terminal.show_cursor();
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture, DisableBracketedPaste);
    let _ = ratatui::try_restore();
    // Terminal's Drop only retries showing the cursor and prints (panics) when it cannot.
    std::mem::forget(terminal);
}

/// Terminal input, on a thread of its own that outlives the sessions: crossterm's reader
/// loops forever on a terminal that is gone (read() keeps answering 0 bytes), and on a
/// runtime worker that loop took the workers with it, so not even SIGHUP or SIGTERM could
/// end the console (seen: an orphaned console at 80% CPU). Here it can only spin its own
/// thread until the clock notices the dead terminal and the console quits. One reader for
/// all sessions: a second one would race it for keys, and a key typed during a switch
/// would be lost.
///
/// The gate parks it while `$EDITOR` has the terminal (see [`external::InputGate`]).
fn read_input() -> color_eyre::Result<(mpsc::Receiver<Msg>, std::sync::Arc<external::InputGate>)> {
    let (input_tx, input) = mpsc::channel::<Msg>(4096);
    let gate = std::sync::Arc::new(external::InputGate::default());
    let turn = gate.clone();
    std::thread::Builder::new()
        .name("warroom-input".into())
        .spawn(move || loop {
            turn.wait_turn();
            let msg = match crossterm::event::read() {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Mouse(m)) => Msg::Mouse(m),
                Ok(Event::Paste(p)) => Msg::Paste(p),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => Msg::Quit,
            };
            let quit = matches!(msg, Msg::Quit);
            if input_tx.blocking_send(msg).is_err() || quit {
                return;
            }
        })
        .wrap_err("starting the terminal input thread")?;
    Ok((input, gate))
}

/// One console session after another on the same terminal (raw mode, mouse and paste stay
/// on): the first as `client`, then, in the demo, as whoever the user switches to.
async fn sessions(
    terminal: &mut ratatui::DefaultTerminal,
    mut client: Client,
    mut look: Look,
    data_dir: &std::path::Path,
    demo: Option<DemoUsers>,
) -> color_eyre::Result<()> {
    let (mut input, gate) = read_input()?;

    let names: Vec<(String, crate::model::UserRole)> =
        demo.iter().flat_map(|d| d.users.iter().map(|u| (u.name.clone(), u.role))).collect();
    let mut current = demo.as_ref().map_or(0, |d| d.first);
    let mut previous = None;
    loop {
        let dir = match names.get(current) {
            // The name comes from the demo's users file: never a path of its own.
            Some((name, _)) => data_dir.join(
                name.chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
                    .collect::<String>(),
            ),
            None => data_dir.to_path_buf(),
        };
        let outbox = Outbox::open(&dir, &client);
        let mut app =
            App::new(client.base(), look.keymap.clone(), look.themes.clone(), look.theme.clone(), Utc::now());
        app.bell = look.bell;
        if demo.is_some() {
            let sw = app::Switch { users: names.clone(), current, previous };
            if previous.is_some() {
                // Said once, on the new user's own screen: whose console this is now.
                let now = sw.label(current).unwrap_or_default();
                let key = look
                    .keymap
                    .first_key(keymap::Scope::Global, keymap::Action::SwitchUser)
                    .unwrap_or_else(|| ":as".into());
                // "back" only when `U` returns to whoever was here before.
                let text = match sw.target() {
                    Some(to) if Some(to) == previous => {
                        format!(
                            "this console is now {now}; {key}: back to {}",
                            sw.label(to).unwrap_or_default()
                        )
                    }
                    Some(to) => {
                        format!("this console is now {now}; {key}: to {}", sw.label(to).unwrap_or_default())
                    }
                    None => format!("this console is now {now}"),
                };
                app.flash(app::Level::Info, text);
            }
            app.switch = Some(sw);
        }
        match outbox.waiting() {
            Ok(w) => app.queued = w.yours,
            Err(e) => app.flash(app::Level::Error, e.to_string()),
        }
        let size = terminal.size().unwrap_or_default();
        app.update(Msg::Resize(size.width, size.height));

        let ended =
            event_loop(terminal, &mut app, client.clone(), outbox, &mut input, &gate, previous.is_some())
                .await?;
        let (Ended::Switch(name), Some(demo)) = (ended, &demo) else { return Ok(()) };
        let Some(next) = demo.users.iter().position(|u| u.name == name) else { return Ok(()) };
        // A theme chosen with :theme stays through the switch: it is the terminal's, not the
        // user's.
        look.theme = app.theme.clone();
        client = Client::new(client.base(), &demo.users[next].token)?;
        previous = Some(current);
        current = next;
    }
}

/// Whether a switched-to console has what its first frame needs (see [`SWITCH_HOLD`]).
fn ready_to_show(app: &App) -> bool {
    // The snapshot comes before the stream is live: drawn then, it read "OFFLINE" for a frame.
    let loaded = app.conn.online && app.conn.last_sync.is_some() && app.me.is_some() && app.library.is_some();
    loaded || app.not_signed_in.is_some() || (!app.conn.online && app.conn.since.is_some())
}

/// The next message: the session's own, or the terminal's.
async fn next(rx: &mut mpsc::Receiver<Msg>, input: &mut mpsc::Receiver<Msg>) -> Option<Msg> {
    tokio::select! {
        m = rx.recv() => m,
        m = input.recv() => m,
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    client: Client,
    outbox: Outbox,
    input: &mut mpsc::Receiver<Msg>,
    gate: &external::InputGate,
    switched: bool,
) -> color_eyre::Result<Ended> {
    let (tx, mut rx) = mpsc::channel::<Msg>(4096);
    let mut tasks = Vec::new();
    // Halts in flight: never aborted by a switch (a halt half-sent is no halt).
    let mut halts = Vec::new();

    // The server: snapshot + stream, with reconnects. Coming back online kicks the outbox;
    // a snapshot records the server as reached, which is what lets commands queue for it.
    let (kick_tx, kick_rx) = mpsc::channel::<()>(16);
    let (sync_tx, mut sync_rx) = mpsc::channel::<SyncEvent>(4096);
    tasks.push(tokio::spawn(follow(client.clone(), sync_tx)));
    let (t, kick, ob) = (tx.clone(), kick_tx.clone(), outbox.clone());
    tasks.push(tokio::spawn(async move {
        while let Some(ev) = sync_rx.recv().await {
            if matches!(ev, SyncEvent::Online) {
                let _ = kick.try_send(());
            }
            if let SyncEvent::Snapshot(snap) = &ev {
                if let Err(e) = ob.reached(Some(snap.log), None) {
                    let _ = t.send(Msg::Error(e.to_string())).await;
                }
            }
            if t.send(Msg::Sync(ev)).await.is_err() {
                return;
            }
        }
    }));

    // Who I am, and the server's playbooks and channels: fetched until the server answers.
    let (t, ob) = (tx.clone(), outbox.clone());
    tasks.push(tokio::spawn(fetch(tx.clone(), client.clone(), move |c| {
        let (t, ob) = (t.clone(), ob.clone());
        async move {
            let me = c.whoami().await?;
            // The name shows others whose queued commands they see.
            if let Err(e) = ob.reached(None, Some(&me.name)) {
                let _ = t.send(Msg::Error(e.to_string())).await;
            }
            Ok(Msg::Me(me))
        }
    })));
    tasks.push(tokio::spawn(fetch(tx.clone(), client.clone(), |c| async move {
        c.library().await.map(Msg::Library)
    })));

    tasks.push(tokio::spawn(signals(tx.clone())));
    tasks.push(tokio::spawn(clock(tx.clone())));

    // The game day's board: asked for when news may have moved it, at most twice a second.
    let (board_tx, board_rx) = mpsc::channel::<()>(1);
    tasks.push(tokio::spawn(scoreboard::fetcher(client.clone(), board_rx, tx.clone())));

    // The outbox flusher: sends queued commands in order whenever kicked, and retries while
    // anything waits.
    let fetcher = client.clone();
    tasks.push(tokio::spawn(flusher(outbox.clone(), client, kick_rx, tx.clone())));

    let mut stdout = std::io::stdout();
    let mut last_draw = std::time::Instant::now() - FRAME;
    let hold_until = switched.then(|| std::time::Instant::now() + SWITCH_HOLD);
    let mut ended = Ended::Quit;
    // Messages made by the loop itself (an editor's result): handled before anything queued.
    let mut later: std::collections::VecDeque<Msg> = Default::default();
    loop {
        let hold = hold_until.is_some_and(|t| std::time::Instant::now() < t) && !ready_to_show(app);
        let first = if hold {
            // The previous user's view stays up until this one can be drawn whole.
            let left =
                hold_until.map_or(Duration::ZERO, |t| t.saturating_duration_since(std::time::Instant::now()));
            match tokio::time::timeout(left, next(&mut rx, input)).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => continue,
            }
        } else if app.dirty && last_draw.elapsed() < FRAME {
            // A frame went out moments ago: gather what arrives until the next slot, so a
            // stream of samples costs at most one frame per slot.
            match tokio::time::timeout(FRAME - last_draw.elapsed(), next(&mut rx, input)).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => continue,
            }
        } else {
            if app.dirty {
                app.prepare();
                crossterm::queue!(stdout, BeginSynchronizedUpdate)?;
                terminal.draw(|f| view::draw(f, app))?;
                crossterm::execute!(stdout, EndSynchronizedUpdate)?;
                stdout.flush()?;
                app.dirty = false;
                last_draw = std::time::Instant::now();
            }
            let Some(m) = next(&mut rx, input).await else { break };
            m
        };
        let mut quit = false;
        let mut msg = Some(first);
        while let Some(m) = msg {
            for effect in app.update(m) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::SwitchUser(name) => {
                        ended = Ended::Switch(name);
                        quit = true;
                    }
                    Effect::Fetch(id) => {
                        let (tx, client) = (tx.clone(), fetcher.clone());
                        tasks.retain(|t| !t.is_finished());
                        tasks.push(tokio::spawn(async move {
                            let got = client.incident(id).await;
                            let msg = match got {
                                Ok(full) => Msg::Fetched(Box::new(full)),
                                Err(e) => Msg::FetchFailed(id, e.to_string()),
                            };
                            let _ = tx.send(msg).await;
                        }));
                    }
                    Effect::Halt(reason) => {
                        // Straight to the server, never the outbox; the answer is a flash.
                        let (tx, client) = (tx.clone(), fetcher.clone());
                        halts.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
                        halts.push(tokio::spawn(async move {
                            let got = client.halt(&reason).await.map_err(|e| e.to_string());
                            let _ = tx.send(Msg::Halted(got)).await;
                        }));
                    }
                    Effect::FetchBoard => scoreboard::ask(&board_tx),
                    Effect::FetchLibrary => {
                        let (tx, client) = (tx.clone(), fetcher.clone());
                        tokio::spawn(async move {
                            // A failure keeps the library shown; the next change asks again.
                            if let Ok(lib) = client.library().await {
                                let _ = tx.send(Msg::Library(lib)).await;
                            }
                        });
                    }
                    Effect::Edit(request) => {
                        // The terminal is the editor's until it ends; nothing is drawn meanwhile.
                        let outcome =
                            external::edit(terminal, gate, &request.incident.to_string(), &request.text)
                                .await
                                .map(|(text, note)| {
                                    if let Some(note) = note {
                                        later.push_back(Msg::Error(note));
                                    }
                                    text
                                });
                        later.push_front(Msg::Edited(Box::new(app::Edited { request: *request, outcome })));
                        app.dirty = true;
                    }
                    Effect::Bell => {
                        // BEL is drawn by no cell: it goes straight out, between frames.
                        if let Err(e) = stdout.write_all(b"\x07").and_then(|()| stdout.flush()) {
                            app.flash(app::Level::Warn, format!("could not ring the bell: {e}"));
                        }
                    }
                    Effect::Send(cmd) => {
                        // Durable before anything else: the command survives a crash or a
                        // dead network from here on. A server never reached gets no queue
                        // (its URL may be a typo): the error says so in the flash.
                        match outbox.push(&cmd) {
                            Ok(w) => {
                                app.update(Msg::Queued(w.yours));
                            }
                            Err(e) => {
                                app.pending.retain(|p| p.id != cmd.id);
                                app.flash(app::Level::Error, e.to_string());
                            }
                        }
                        let _ = kick_tx.try_send(());
                    }
                }
            }
            msg = later.pop_front().or_else(|| rx.try_recv().ok()).or_else(|| input.try_recv().ok());
        }
        if quit {
            break;
        }
    }
    for t in tasks {
        t.abort();
    }
    // A quit ends the halts too, as before: leaving is the user's choice. A switch lets them
    // finish: their answer has no console left to show in, but the server acts on them.
    if matches!(ended, Ended::Quit) {
        for h in halts {
            h.abort();
        }
    }
    Ok(ended)
}

/// SIGTERM or SIGHUP (a closed terminal, `kill`) quit like `q`: the terminal is restored
/// and a demo's temporary data dir is removed.
async fn signals(tx: mpsc::Sender<Msg>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup()))
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let _ = tx.send(Msg::Quit).await;
    }
    #[cfg(not(unix))]
    drop(tx);
}

/// The clock: ages, communication clocks and flash expiry. It also notices a terminal that
/// went away without a hangup reaching us (its size can no longer be asked).
async fn clock(tx: mpsc::Sender<Msg>) {
    let had_terminal = crossterm::terminal::window_size().is_ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let msg = if had_terminal && crossterm::terminal::window_size().is_err() {
            Msg::Quit
        } else {
            Msg::Tick(Utc::now())
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Fetches something once, retrying while the server is away; a refusal is shown.
async fn fetch<F, Fut>(tx: mpsc::Sender<Msg>, client: Client, get: F)
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<Msg, crate::client::ClientError>>,
{
    loop {
        match get(client.clone()).await {
            Ok(msg) => {
                let _ = tx.send(msg).await;
                return;
            }
            Err(e) if e.keeps_queued() => tokio::time::sleep(Duration::from_secs(2)).await,
            // A refused token looks like a network problem unless it is named as such.
            Err(e @ crate::client::ClientError::Rejected { status: 401, .. }) => {
                let _ = tx.send(Msg::NotSignedIn(e.to_string())).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Msg::Error(e.to_string())).await;
                return;
            }
        }
    }
}

/// Sends this user's queued commands (never another user's) whenever kicked, and retries
/// every few seconds while any wait, except after the server refused the token: retrying
/// cannot help until the user acts, so it waits for the next kick.
async fn flusher(outbox: Outbox, client: Client, mut kick: mpsc::Receiver<()>, tx: mpsc::Sender<Msg>) {
    let mut retry = outbox.waiting().is_ok_and(|w| w.yours > 0);
    loop {
        if retry {
            // Retry on a kick (new command, back online) or every few seconds.
            let _ = tokio::time::timeout(Duration::from_secs(3), kick.recv()).await;
        } else if kick.recv().await.is_none() {
            return;
        }
        let msgs = match outbox.flush(&client).await {
            Ok(done) => {
                retry = done.waiting.yours > 0 && !done.stopped_on_auth();
                flushed_msgs(done)
            }
            Err(e) => vec![Msg::Error(e.to_string())],
        };
        for msg in msgs {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// What one flush of the outbox tells the console: counts and refusals for the status bar,
/// then each refusal with its command, for what the refused command was part of (a
/// postmortem's save, a close that needs one).
pub fn flushed_msgs(done: crate::client::outbox::Flushed) -> Vec<Msg> {
    use crate::client::ClientError;
    // The status bar is one line: the reason first, then only the file's name (`warroom
    // outbox list` and `config paths` say where it is), so the reason is what gets read.
    let rejected = done
        .rejected_path
        .file_name()
        .map_or_else(|| done.rejected_path.display().to_string(), |name| name.to_string_lossy().into_owned());
    let mut refused: Vec<String> =
        done.refused.iter().map(|(_, e)| format!("{e} (kept in {rejected})")).collect();
    if done.unreadable > 0 {
        refused.push(format!("{} unreadable outbox line(s) moved to {rejected}", done.unreadable));
    }
    let auth = done.stopped_on_auth().then(|| {
        let why = done.stopped.as_ref().map(|e| e.to_string()).unwrap_or_default();
        format!("outbox kept: the server refused your token ({why})")
    });
    let refusals: Vec<app::Refusal> = done
        .refused
        .iter()
        .map(|(cmd, e)| {
            let (status, detail) = match e {
                ClientError::Rejected { status, detail, .. } => (Some(*status), detail.clone()),
                other => (None, other.to_string()),
            };
            app::Refusal { id: cmd.id, intent: cmd.intent.clone(), status, detail }
        })
        .collect();
    let mut msgs = vec![Msg::Flushed {
        sent: done.sent.len(),
        refused,
        remaining: done.waiting.yours,
        stopped: done.stopped.map(|e| e.to_string()),
    }];
    msgs.extend(auth.map(Msg::Error));
    if !refusals.is_empty() {
        msgs.push(Msg::Refused(refusals));
    }
    msgs
}

/// Opens the console for the CLI's connection settings; `quiet` silences the bell.
pub async fn open(client: Client, theme: Option<&str>, quiet: bool) -> color_eyre::Result<()> {
    let mut look = Look::load(theme).wrap_err("loading the console's look")?;
    look.bell &= !quiet;
    run(client, look, &config::data_dir(), None).await
}

/// `warroom scoreboard`: the game day's board alone, read-only, for the CLI's connection
/// settings; `quiet` silences the bell (kick-offs).
pub async fn open_scoreboard(client: Client, theme: Option<&str>, quiet: bool) -> color_eyre::Result<()> {
    let mut look = Look::load(theme).wrap_err("loading the console's look")?;
    look.bell &= !quiet;
    scoreboard::run(client, look).await
}

/// `warroom replay INC`: the incident played back alone, read-only, for the CLI's connection
/// settings.
pub async fn open_replay(
    client: Client,
    theme: Option<&str>,
    id: crate::model::IncidentId,
    speed: f64,
    max_gap: Duration,
) -> color_eyre::Result<()> {
    let look = Look::load(theme).wrap_err("loading the console's look")?;
    replay::run(client, look, id, speed, max_gap).await
}
