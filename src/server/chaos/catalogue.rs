//! The chaos catalogue: scenario files (shipped, the config dir's `chaos/`, `scenarios_dir`),
//! loaded at start and on SIGHUP like playbooks. One broken file never hides the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::chaos::{self, Scenario, ScenarioInfo};

/// The scenarios that ship with warroom, and the files they refer to. They are written under
/// the data dir at start, so that a driver that needs a file (`chaos run`) finds it.
pub const SHIPPED: &[(&str, &str)] = &[
    ("price-desync.toml", include_str!("../../../playbooks/chaos/price-desync.toml")),
    ("table-lock.toml", include_str!("../../../playbooks/chaos/table-lock.toml")),
    ("payment-errors.toml", include_str!("../../../playbooks/chaos/payment-errors.toml")),
    ("stock-corruption.toml", include_str!("../../../playbooks/chaos/stock-corruption.toml")),
    ("degraded-product-page.toml", include_str!("../../../playbooks/chaos/degraded-product-page.toml")),
    ("progressive-shutdown.toml", include_str!("../../../playbooks/chaos/progressive-shutdown.toml")),
    ("slow-network.toml", include_str!("../../../playbooks/chaos/slow-network.toml")),
    ("slow-search-ctk.toml", include_str!("../../../playbooks/chaos/slow-search-ctk.toml")),
    ("experiments/slow-search.json", include_str!("../../../playbooks/chaos/experiments/slow-search.json")),
];

/// Examples for drivers that need something outside the demo (Toxiproxy, systemd): shipped in
/// `playbooks/chaos/examples/` to copy, checked by the tests, not loaded.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("toxiproxy-latency.toml", include_str!("../../../playbooks/chaos/examples/toxiproxy-latency.toml")),
    ("zookeeper-shutdown.toml", include_str!("../../../playbooks/chaos/examples/zookeeper-shutdown.toml")),
];

/// One scenario, with where its relative paths point.
#[derive(Debug, Clone)]
pub struct Entry {
    pub scenario: Scenario,
    /// The directory of its file.
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub scenarios: BTreeMap<String, Entry>,
    /// One line per file that did not load, naming the file, line and field.
    pub errors: Vec<String>,
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.scenarios.get(id)
    }

    /// What clients see.
    pub fn infos(&self) -> Vec<ScenarioInfo> {
        self.scenarios.values().map(|e| e.scenario.info()).collect()
    }
}

/// A scenario file is a page of TOML; anything bigger is a mistake (a log, a link to a device).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Checks one scenario file; the error names the file and line. Only a regular file is read
/// (through a link too), and at most [`MAX_FILE_BYTES`]: a FIFO named `x.toml` would hang the
/// start and every reload, a link to `/dev/zero` would fill the memory.
pub fn check_file(path: &Path) -> Result<Scenario, String> {
    let text = read_small_file(path)?;
    chaos::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a file of the server's own configuration (a scenario, a playbook): only a regular
/// file (through a link too), and at most [`MAX_FILE_BYTES`]. Errors name the file.
pub fn read_small_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{shown}: larger than {} KiB", MAX_FILE_BYTES / 1024));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("{shown}: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{shown}: larger than {} KiB", MAX_FILE_BYTES / 1024));
    }
    Ok(text)
}

/// Writes the shipped scenarios into `dir` (replacing older copies), so they read like any
/// other directory of scenarios. An error is returned, and the shipped ones are then missing.
pub fn write_shipped(dir: &Path) -> std::io::Result<()> {
    for (name, text) in SHIPPED {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Loads every directory in order; a later directory's scenario with the same id wins (the
/// team's own over the shipped ones). Two files of one directory with the same id are a
/// mistake (a copy whose id was not changed): the first file stays, the second is an error.
pub fn load(dirs: &[PathBuf]) -> Catalogue {
    let mut out = Catalogue::default();
    for dir in dirs {
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for file in crate::server::library::toml_files(dir) {
            match check_file(&file) {
                Ok(scenario) => {
                    if let Some(first) = seen.get(&scenario.id) {
                        out.errors.push(format!(
                            "{}: id `{}` is also the id of {}; this file is ignored",
                            file.display(),
                            scenario.id,
                            first.display()
                        ));
                        continue;
                    }
                    seen.insert(scenario.id.clone(), file.clone());
                    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                    out.scenarios.insert(scenario.id.clone(), Entry { scenario, base_dir });
                }
                Err(e) => out.errors.push(e),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_parses() {
        for (name, text) in SHIPPED.iter().chain(EXAMPLES).filter(|(n, _)| n.ends_with(".toml")) {
            if let Err(e) = chaos::parse(text) {
                panic!("playbooks/chaos/{name}: {e}");
            }
        }
    }

    #[test]
    fn every_file_in_playbooks_chaos_is_shipped_or_an_example() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/chaos");
        for (dir, list) in [(root.to_string(), SHIPPED), (format!("{root}/examples"), EXAMPLES)] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if path.is_dir() || name.ends_with(".yaml") {
                    // `experiments/` is listed by file; a Run document is an example to copy.
                    continue;
                }
                assert!(
                    list.iter().any(|(n, _)| *n == name),
                    "{dir}/{name} is neither shipped nor an example"
                );
            }
        }
    }

    #[test]
    fn one_bad_file_never_hides_the_others() {
        let dir = tempfile::tempdir().unwrap();
        write_shipped(dir.path()).unwrap();
        std::fs::write(dir.path().join("zz-broken.toml"), "id = \"x\"\ntitle = \n").unwrap();
        let c = load(&[dir.path().to_path_buf()]);
        assert_eq!(c.scenarios.len(), SHIPPED.iter().filter(|(n, _)| n.ends_with(".toml")).count());
        assert_eq!(c.errors.len(), 1);
        assert!(c.errors[0].contains("zz-broken.toml: line 2"), "{}", c.errors[0]);
    }
    #[test]
    fn a_fifo_a_device_or_a_huge_file_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        write_shipped(dir.path()).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("fifo.toml").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).unwrap();
        let padding = format!("# {}\n", "x".repeat(100));
        std::fs::write(dir.path().join("huge.toml"), padding.repeat(MAX_FILE_BYTES as usize / 100)).unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(load(&dirs)));
        let c = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("loading hangs");
        let shipped = SHIPPED.iter().filter(|(n, _)| n.ends_with(".toml")).count();
        assert_eq!(c.scenarios.len(), shipped, "{:?}", c.errors);
        assert_eq!(c.errors.len(), 3, "{:?}", c.errors);
        assert!(c.errors.iter().any(|e| e.contains("fifo.toml: not a regular file")), "{:?}", c.errors);
        assert!(c.errors.iter().any(|e| e.contains("zero.toml: not a regular file")), "{:?}", c.errors);
        assert!(c.errors.iter().any(|e| e.contains("huge.toml: larger than")), "{:?}", c.errors);
    }

    #[test]
    fn two_files_of_one_directory_with_the_same_id_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_shipped(dir.path()).unwrap();
        let copy = SHIPPED[0].1.replace("title = \"", "title = \"Copy: ");
        std::fs::write(dir.path().join("zz-copy.toml"), copy).unwrap();
        let c = load(&[dir.path().to_path_buf()]);
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert!(
            c.errors[0].contains("zz-copy.toml: id `price-desync` is also the id of")
                && c.errors[0].contains("price-desync.toml"),
            "{}",
            c.errors[0]
        );
        // The first keeps its place; a later directory still overrides on purpose.
        assert!(!c.get("price-desync").unwrap().scenario.title.starts_with("Copy"));
        let over = tempfile::tempdir().unwrap();
        std::fs::write(over.path().join("mine.toml"), SHIPPED[0].1.replace("title = \"", "title = \"Mine: "))
            .unwrap();
        let c = load(&[dir.path().to_path_buf(), over.path().to_path_buf()]);
        assert!(c.get("price-desync").unwrap().scenario.title.starts_with("Mine"));
    }
}
