//! The server's library: playbooks (shipped, the config dir's, and `playbooks_dir`) and its
//! channels, loaded at start and again on SIGHUP. One broken playbook never stops the others:
//! its error is kept, printed and served with the library.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::config::ChannelConfig;
use crate::model::library::ChannelInfo;
use crate::model::playbook::{self, Playbook};
// The page is a wire type; re-exported so the rest of `server/` keeps naming it `library::Loaded`.
pub use crate::protocol::Loaded;

/// The playbooks that ship with warroom.
pub const SHIPPED: &[(&str, &str)] = &[
    ("major-outage.toml", include_str!("../../playbooks/major-outage.toml")),
    ("degraded-performance.toml", include_str!("../../playbooks/degraded-performance.toml")),
    ("security-incident.toml", include_str!("../../playbooks/security-incident.toml")),
    ("data-loss.toml", include_str!("../../playbooks/data-loss.toml")),
    ("gameday-hero.toml", include_str!("../../playbooks/gameday-hero.toml")),
];

/// Checks one playbook file; the error names the file and line.
/// Like scenarios, only a regular file of at most 256 KiB is read: a FIFO named `x.toml` in
/// the playbooks dir would otherwise hang the start and every reload.
pub fn check_file(path: &Path) -> Result<Playbook, String> {
    let text = super::chaos::catalogue::read_small_file(path)?;
    playbook::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `.toml` files of `dir`, sorted (none when it cannot be read): playbooks and scenarios.
pub(crate) fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Loads every playbook (shipped, then each dir in order; a later one with the same id
/// wins) and describes the channels, the status page components (the probes' names) and the
/// users' names (people given roles and steps are checked against them).
pub fn load(
    channels: &[ChannelConfig],
    dirs: &[PathBuf],
    public_url: &str,
    components: &[String],
    users: &[String],
) -> Loaded {
    let mut out = Loaded::default();
    out.library.components = components.to_vec();
    out.library.users = users.to_vec();
    out.library.users.sort();
    out.library.users.dedup();
    let add = |pb: Playbook, out: &mut Loaded| {
        out.library.playbooks.retain(|p| p.id != pb.id);
        out.library.playbooks.push(pb);
    };
    for (name, text) in SHIPPED {
        match playbook::parse(text) {
            Ok(pb) => add(pb, &mut out),
            Err(e) => out.errors.push(format!("playbooks/{name}: {e}")),
        }
    }
    for dir in dirs {
        for file in toml_files(dir) {
            match check_file(&file) {
                Ok(pb) => add(pb, &mut out),
                Err(e) => out.errors.push(e),
            }
        }
    }
    for c in channels {
        out.library.channels.insert(
            c.name.clone(),
            ChannelInfo {
                kind: c.kind.as_str().to_string(),
                audience: c.audience.unwrap_or(c.kind.default_audience()),
                drills: c.drills,
            },
        );
    }
    // A step naming a channel this server lacks still loads; one line per playbook says so.
    for pb in &out.library.playbooks {
        let mut missing: Vec<&str> = pb
            .steps
            .iter()
            .filter_map(|s| s.channel.as_deref())
            .filter(|c| !out.library.channels.contains_key(*c))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            out.errors.push(format!(
                "playbook {}: no channel {} on this server: those steps' messages cannot be sent",
                pb.id,
                missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out.library.status_page_url = format!("{}/status", public_url.trim_end_matches('/'));
    out
}

/// The live library, swapped whole on reload.
#[derive(Default)]
pub struct Shared(RwLock<Arc<Loaded>>);

impl Shared {
    pub fn new(loaded: Loaded) -> Shared {
        Shared(RwLock::new(Arc::new(loaded)))
    }

    pub fn get(&self) -> Arc<Loaded> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, loaded: Loaded) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn a_fifo_among_the_playbooks_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("fifo.toml").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let dirs = vec![dir.path().to_path_buf()];
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Box::new(super::load(&[], &dirs, "http://x", &[], &[])));
        });
        let loaded = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("loading hangs");
        assert!(
            loaded.errors.iter().any(|e| e.contains("fifo.toml: not a regular file")),
            "{:?}",
            loaded.errors
        );
    }
}
