//! `$EDITOR` from the console: the terminal is lent to the user's editor on a temp file and taken
//! back afterwards whatever happened; the input thread is parked meanwhile so it steals no key.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};

/// How long the input thread may take to park before the editor is given up on.
const PARK_WAIT: Duration = Duration::from_secs(5);

/// Lets the runner stop the terminal input thread from reading while an editor owns the
/// terminal: the thread asks before every read and waits while the terminal is lent out.
#[derive(Debug, Default)]
pub struct InputGate {
    state: Mutex<Gate>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct Gate {
    /// The runner wants the terminal for an editor.
    lent: bool,
    /// The input thread is waiting, reading nothing.
    parked: bool,
}

impl InputGate {
    fn lock(&self) -> MutexGuard<'_, Gate> {
        // A panic elsewhere while holding it leaves plain flags behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The input thread, before each read: returns at once, or once the terminal is back.
    pub fn wait_turn(&self) {
        let mut gate = self.lock();
        while gate.lent {
            gate.parked = true;
            self.turn.notify_all();
            gate = self.turn.wait(gate).unwrap_or_else(|e| e.into_inner());
        }
        gate.parked = false;
    }

    /// Takes the terminal from the input thread: wakes it out of its read (a SIGWINCH makes
    /// crossterm answer with a resize) and waits until it is parked. False if it did not park
    /// in time: the terminal is then given back at once.
    pub fn park(&self) -> bool {
        let mut gate = self.lock();
        gate.lent = true;
        drop(gate);
        wake_reader();
        let gate = self.lock();
        let (gate, _) =
            self.turn.wait_timeout_while(gate, PARK_WAIT, |g| !g.parked).unwrap_or_else(|e| e.into_inner());
        let parked = gate.parked;
        drop(gate);
        if !parked {
            self.resume();
        }
        parked
    }

    /// Gives the terminal back to the input thread.
    pub fn resume(&self) {
        self.lock().lent = false;
        self.turn.notify_all();
    }
}

/// A blocked crossterm read returns on SIGWINCH (as a resize of the same size): the cheapest
/// way to wake it without a polling loop that would cost wake-ups while idle.
fn wake_reader() {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid with a signal crossterm handles (and whose default
    // action is to be ignored); no memory is touched.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGWINCH);
    }
}

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi` (as git does).
pub fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "vi".into())
}

/// Writes `text` to a new temp file named after `label` (`INC-7`), for the editor.
pub fn temp_file(label: &str, text: &str) -> Result<PathBuf, String> {
    let safe: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let mut file = tempfile::Builder::new()
        .prefix(&format!("warroom-{safe}-postmortem-"))
        .suffix(".md")
        .tempfile()
        .map_err(|e| format!("could not create a temp file for the editor: {e}"))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("could not write {}: {e}", file.path().display()))?;
    file.into_temp_path().keep().map_err(|e| format!("could not keep the editor's temp file: {e}"))
}

/// Runs `editor` on `path` through `sh -c` (an `$EDITOR` may carry arguments, like
/// `code --wait`), waiting for it to end. Blocking: called off the async workers.
pub fn run_editor(editor: &str, path: &Path) -> Result<(), String> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("warroom-editor")
        .arg(path)
        .status()
        .map_err(|e| format!("could not start `{editor}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{editor}` ended with {status}"))
    }
}

/// Lends the terminal to `$EDITOR` on `text` and takes it back, whatever happened: the edited
/// text (with a word about a temp file that could not be removed), or why there is none
/// (naming the temp file, which is then kept).
pub async fn edit(
    terminal: &mut ratatui::DefaultTerminal,
    gate: &InputGate,
    label: &str,
    text: &str,
) -> Result<(String, Option<String>), String> {
    let path = temp_file(label, text)?;
    let kept = |why: String| format!("{why}; nothing saved, your text is in {}", path.display());
    if !gate.park() {
        return Err(kept("the console's input could not be paused, so the editor was not started".into()));
    }
    let editor = editor_command();
    let suspended = suspend();
    let ran = match suspended {
        Ok(()) => {
            let (editor, file) = (editor.clone(), path.clone());
            tokio::task::spawn_blocking(move || run_editor(&editor, &file))
                .await
                .unwrap_or_else(|e| Err(format!("the editor's thread failed: {e}")))
        }
        Err(e) => Err(format!("could not hand the terminal over: {e}")),
    };
    // Always taken back, the editor's failure or not.
    let restored = restore(terminal);
    gate.resume();
    ran.map_err(kept)?;
    restored.map_err(|e| kept(format!("the terminal could not be taken back ({e})")))?;
    let edited = std::fs::read_to_string(&path).map_err(|e| kept(format!("could not read it back: {e}")))?;
    // Its text is in the console now; a file left behind would only be clutter.
    let note = std::fs::remove_file(&path)
        .err()
        .map(|e| format!("the edit was read, but {} could not be removed: {e}", path.display()));
    Ok((edited, note))
}

/// The terminal as a shell has it: main screen, cooked mode, no mouse or paste reporting.
fn suspend() -> std::io::Result<()> {
    crossterm::execute!(
        std::io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    )?;
    crossterm::terminal::disable_raw_mode()
}

/// The terminal as the console has it, redrawn whole on the next frame.
fn restore(terminal: &mut ratatui::DefaultTerminal) -> std::io::Result<()> {
    let raw = crossterm::terminal::enable_raw_mode();
    crossterm::execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        crossterm::cursor::Hide
    )?;
    raw?;
    terminal.clear()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_editor_is_named_and_a_working_one_edits_the_file() {
        let path = temp_file("INC-7", "## Summary\n").unwrap();
        assert!(path.file_name().unwrap().to_string_lossy().starts_with("warroom-INC-7-postmortem-"));
        let err = run_editor("false", &path).unwrap_err();
        assert!(err.starts_with("`false` ended with"), "{err}");
        run_editor("sh -c 'echo Down. >> \"$0\"'", &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "## Summary\nDown.\n");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn the_gate_parks_the_reader_between_reads_and_lets_it_go() {
        use std::sync::{mpsc, Arc};
        let gate = Arc::new(InputGate::default());
        // A fake terminal: each "key" ends one blocking read.
        let (keys, read) = mpsc::channel::<bool>();
        let (done, reads) = mpsc::channel::<()>();
        let g = gate.clone();
        let reader = std::thread::spawn(move || loop {
            g.wait_turn();
            match read.recv() {
                Ok(true) => done.send(()).unwrap(),
                _ => return,
            }
        });
        let g = gate.clone();
        let parking = std::thread::spawn(move || g.park());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !gate.lock().lent {
            assert!(std::time::Instant::now() < deadline, "park never asked");
            std::thread::yield_now();
        }
        // The real wake is a SIGWINCH; here a key ends the read in progress (or waits for
        // the reader's next turn, if it parked first).
        keys.send(true).unwrap();
        assert!(parking.join().unwrap(), "parked in time");
        assert!(gate.lock().parked, "no read while the terminal is lent");
        gate.resume();
        keys.send(true).unwrap();
        keys.send(false).unwrap();
        reader.join().unwrap();
        assert_eq!(reads.try_iter().count(), 2, "both keys were read, once the gate let it");
    }
}
