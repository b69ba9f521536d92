//! `warroom scoreboard`: the scoreboard pane alone, full screen and read-only, following the
//! server live; and the board fetcher both consoles use, which spaces its asks out.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::app::{App, Effect, Msg};
use super::{view, Look, FRAME};
use crate::client::sync::{follow, SyncEvent};
use crate::client::Client;

/// The board is asked for at most this often: a busy game day sends events by the hundred,
/// and one answer covers all the news before it.
pub const BOARD_GAP: Duration = Duration::from_millis(500);

/// Asks the fetcher for the board.
pub fn ask(kick: &mpsc::Sender<()>) {
    match kick.try_send(()) {
        // Full: an ask already waits, and its answer will be newer than this news.
        Ok(()) | Err(TrySendError::Full(())) => {}
        // Closed: the console is ending; nobody is left to show an answer to.
        Err(TrySendError::Closed(())) => {}
    }
}

/// Answers asks for the board (`GET /api/v1/gameday`) one at a time, at most one per
/// [`BOARD_GAP`]; asks made meanwhile wait as one. Failures go to the pane, which says them.
pub async fn fetcher(client: Client, mut kick: mpsc::Receiver<()>, tx: mpsc::Sender<Msg>) {
    while kick.recv().await.is_some() {
        let got = client.gameday().await.map_err(|e| e.to_string());
        if tx.send(Msg::Board(got)).await.is_err() {
            return;
        }
        tokio::time::sleep(BOARD_GAP).await;
    }
}

/// Runs the scoreboard alone until `q`: it follows the log (so news triggers a fresh board)
/// and asks for the board; it sends no command and keeps no outbox, so an observer's token
/// is enough.
pub async fn run(client: Client, look: Look) -> color_eyre::Result<()> {
    let mut terminal = super::enter();
    let result = follow_board(&mut terminal, client, look).await;
    super::leave(terminal);
    result
}

async fn follow_board(
    terminal: &mut ratatui::DefaultTerminal,
    client: Client,
    look: Look,
) -> color_eyre::Result<()> {
    let (mut input, _gate) = super::read_input()?;
    let (tx, mut rx) = mpsc::channel::<Msg>(4096);
    let mut tasks = Vec::new();
    let (sync_tx, mut sync_rx) = mpsc::channel::<SyncEvent>(4096);
    tasks.push(tokio::spawn(follow(client.clone(), sync_tx)));
    let t = tx.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(ev) = sync_rx.recv().await {
            if t.send(Msg::Sync(ev)).await.is_err() {
                return;
            }
        }
    }));
    // Who I am: the board marks my team.
    tasks.push(tokio::spawn(super::fetch(tx.clone(), client.clone(), |c| async move {
        c.whoami().await.map(Msg::Me)
    })));
    let (board_tx, board_rx) = mpsc::channel::<()>(1);
    tasks.push(tokio::spawn(fetcher(client.clone(), board_rx, tx.clone())));
    tasks.push(tokio::spawn(super::signals(tx.clone())));
    tasks.push(tokio::spawn(super::clock(tx.clone())));

    let mut app = App::new(client.base(), look.keymap, look.themes, look.theme, Utc::now()).solo();
    app.bell = look.bell;
    let size = terminal.size().unwrap_or_default();
    app.update(Msg::Resize(size.width, size.height));

    let mut stdout = std::io::stdout();
    let mut last_draw = Instant::now() - FRAME;
    'run: loop {
        let first = if app.dirty && last_draw.elapsed() < FRAME {
            // Gather what arrives until the next frame's slot.
            match tokio::time::timeout(FRAME - last_draw.elapsed(), super::next(&mut rx, &mut input)).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => continue,
            }
        } else {
            if app.dirty {
                app.prepare();
                crossterm::queue!(stdout, BeginSynchronizedUpdate)?;
                terminal.draw(|f| view::draw(f, &app))?;
                crossterm::execute!(stdout, EndSynchronizedUpdate)?;
                stdout.flush()?;
                app.dirty = false;
                last_draw = Instant::now();
            }
            let Some(m) = super::next(&mut rx, &mut input).await else { break };
            m
        };
        let mut msg = Some(first);
        while let Some(m) = msg {
            for effect in app.update(m) {
                match effect {
                    Effect::Quit => break 'run,
                    Effect::FetchBoard => ask(&board_tx),
                    Effect::Bell => {
                        if let Err(e) = stdout.write_all(b"\x07").and_then(|()| stdout.flush()) {
                            app.flash(super::app::Level::Warn, format!("could not ring the bell: {e}"));
                        }
                    }
                    // Read-only: the app refuses every command here (see `App::solo`), and
                    // shows no incident to fetch, user to become or catalogue.
                    Effect::Send(_)
                    | Effect::Fetch(_)
                    | Effect::Halt(_)
                    | Effect::SwitchUser(_)
                    | Effect::FetchLibrary
                    | Effect::Edit(_) => {}
                }
            }
            msg = rx.try_recv().ok().or_else(|| input.try_recv().ok());
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}
