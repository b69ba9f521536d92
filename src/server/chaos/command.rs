//! The `command` chaos driver: a program with its arguments (never a shell), in its own process
//! group, its output's tail kept, and the whole group killed when it outlives its timeout.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use super::driver::{DriverCx, Injected};
use super::http::shown_duration;
use crate::model::chaos::millis;

/// Without a `timeout` in the action.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of output kept (stdout and stderr together, in arrival order): the last ones, where
/// a failing program says why.
const TAIL_BYTES: usize = 4 * 1024;
/// Lines of that tail put on the timeline.
const TAIL_LINES: usize = 8;
/// Characters per line on the timeline.
const LINE_CHARS: usize = 240;
/// After the program exits, how long its output may still take to arrive: a child it left
/// running can hold the pipes open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// After SIGKILL, how long reaping may take before we give up waiting (a process stuck in the
/// kernel); the error then says so.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Runs `program` with `args` in `cx.base_dir` (a `program` with a `/` is a path relative to
/// it; a bare name is looked up on the PATH), stdin empty. Exits 0 within `timeout` ("30s";
/// [`DEFAULT_TIMEOUT`] without one): `Ok` with the output's last lines. A nonzero exit is `Err`
/// with the code and the last lines; past the timeout the program's whole process group is
/// killed (its children too) and the `Err` says it timed out. Arguments are never shown: they
/// may carry a token.
pub async fn act(
    cx: &DriverCx,
    program: &str,
    args: &[String],
    timeout: Option<&str>,
) -> Result<Injected, String> {
    let timeout = match timeout {
        Some(t) => Duration::from_millis(millis(t).map_err(|e| format!("command {program}: timeout {e}"))?),
        None => DEFAULT_TIMEOUT,
    };
    let mut command = tokio::process::Command::new(resolve(&cx.base_dir, program));
    command
        .args(args)
        .current_dir(&cx.base_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|e| spawn_error(program, &cx.base_dir, &e))?;
    let mut group = Group::of(&child);
    let tail = Arc::new(Mutex::new(Tail::default()));
    let readers = [
        child.stdout.take().map(|out| tokio::spawn(collect(out, tail.clone()))),
        child.stderr.take().map(|err| tokio::spawn(collect(err, tail.clone()))),
    ];
    let outcome = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(waited) => {
            group.reaped();
            Ended::Exited(waited)
        }
        Err(_) => {
            group.kill();
            match tokio::time::timeout(REAP_GRACE, child.wait()).await {
                Ok(_) => {
                    group.reaped();
                    Ended::Killed { reaped: true }
                }
                Err(_) => Ended::Killed { reaped: false },
            }
        }
    };
    drain(readers).await;
    let lines = tail.lock().unwrap_or_else(|p| p.into_inner()).last_lines(TAIL_LINES, LINE_CHARS);
    let with_lines = |head: String| if lines.is_empty() { head } else { format!("{head}: {lines}") };
    match outcome {
        Ended::Exited(Ok(status)) if status.success() => {
            Ok(Injected::done(with_lines(format!("{program} exited 0"))))
        }
        Ended::Exited(Ok(status)) => Err(with_lines(format!("{program} {}", describe_exit(status)))),
        Ended::Exited(Err(e)) => Err(format!("command {program}: waiting for it failed: {e}")),
        Ended::Killed { reaped: true } => Err(with_lines(format!(
            "{program} timed out after {}; killed with its process group",
            shown_duration(timeout)
        ))),
        Ended::Killed { reaped: false } => Err(with_lines(format!(
            "{program} timed out after {}; killed with its process group but still not gone after {}",
            shown_duration(timeout),
            shown_duration(REAP_GRACE)
        ))),
    }
}

enum Ended {
    Exited(std::io::Result<ExitStatus>),
    Killed { reaped: bool },
}

/// `program` as the OS should find it: a path with a `/` is relative to the scenario's file
/// (the standard library leaves a relative path with a changed cwd unspecified), a bare name
/// is looked up on the PATH.
pub(super) fn resolve(base_dir: &Path, program: &str) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        base_dir.join(path)
    } else {
        path.to_path_buf()
    }
}

fn spawn_error(program: &str, base_dir: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound if program.contains('/') => {
            format!("command {program}: not found (relative paths are from {})", base_dir.display())
        }
        ErrorKind::NotFound => format!("command {program}: not found on the PATH"),
        ErrorKind::PermissionDenied => format!("command {program}: not executable (permission denied)"),
        _ => format!("command {program}: could not start in {}: {e}", base_dir.display()),
    }
}

/// `exited with code 3`, or the signal that ended it.
pub(super) fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended: {status}"),
    }
}

/// A child's process group (it leads it: spawned with `process_group(0)`), killed whole when
/// dropped before its leader was reaped, so a cancelled run leaves nothing behind.
pub(super) struct Group {
    pgid: Option<i32>,
}

impl Group {
    pub(super) fn of(child: &tokio::process::Child) -> Group {
        Group { pgid: child.id().and_then(|pid| i32::try_from(pid).ok()).filter(|pid| *pid > 0) }
    }

    /// Sends `signal` to every process in the group. False when there was none to signal.
    pub(super) fn signal(&self, signal: i32) -> bool {
        match self.pgid {
            // SAFETY: kill(2) with a negative pid signals that process group; it touches no
            // memory of ours. The group id is our child's pid, and its leader is not yet
            // reaped, so the id cannot have been reused.
            Some(pgid) => unsafe { libc::kill(-pgid, signal) == 0 },
            None => false,
        }
    }

    pub(super) fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    /// The leader was reaped: its pid may be reused, so the group is never signalled again.
    pub(super) fn reaped(&mut self) {
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last [`TAIL_BYTES`] of output.
#[derive(Default)]
struct Tail {
    bytes: VecDeque<u8>,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(TAIL_BYTES);
        self.bytes.drain(..overflow);
        self.bytes.extend(chunk);
    }

    /// The last `n` non-empty lines, each cut to `chars`, joined with ` | ` (one timeline line).
    fn last_lines(&self, n: usize, chars: usize) -> String {
        let (a, b) = self.bytes.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        last_lines(&text, n, chars)
    }
}

pub(super) fn last_lines(text: &str, n: usize, chars: usize) -> String {
    let lines: Vec<String> =
        text.lines().map(|l| super::http::one_line(l, chars)).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

async fn collect(mut from: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>) {
    let mut buf = [0u8; 4096];
    // A read error ends the output like an end of file would: what arrived is kept.
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        tail.lock().unwrap_or_else(|p| p.into_inner()).push(&buf[..n]);
    }
}

/// Waits for the output readers, at most [`DRAIN_GRACE`] in all, and stops the rest.
async fn drain(readers: [Option<JoinHandle<()>>; 2]) {
    let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
    for mut reader in readers.into_iter().flatten() {
        if tokio::time::timeout_at(deadline, &mut reader).await.is_err() {
            reader.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_and_shows_the_last_lines() {
        let mut tail = Tail::default();
        for i in 0..2000 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        assert!(tail.bytes.len() <= TAIL_BYTES);
        assert_eq!(tail.last_lines(3, 80), "line 1997 | line 1998 | line 1999");
        let mut big = Tail::default();
        big.push(&vec![b'x'; 3 * TAIL_BYTES]);
        assert_eq!(big.bytes.len(), TAIL_BYTES);
    }

    #[test]
    fn last_lines_skips_blank_lines_and_clips_long_ones() {
        assert_eq!(last_lines("a\n\n  \nbbbbbb\n", 5, 3), "a | bbb…");
        assert_eq!(last_lines("", 5, 3), "");
    }

    #[test]
    fn a_program_with_a_slash_is_found_beside_the_scenario() {
        let base = Path::new("/etc/warroom/chaos");
        assert_eq!(resolve(base, "./bin/break"), Path::new("/etc/warroom/chaos/./bin/break"));
        assert_eq!(resolve(base, "toxiproxy-cli"), Path::new("toxiproxy-cli"));
        assert_eq!(resolve(base, "/usr/bin/env"), Path::new("/usr/bin/env"));
    }
}
