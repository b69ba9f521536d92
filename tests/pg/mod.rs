//! A real PostgreSQL for tests: the distribution's `initdb` and `pg_ctl` on a temporary
//! directory and a free port, stopped with the test. Absent binaries skip the test with a
//! message, unless `WARROOM_REQUIRE_POSTGRES=1` (set by `.ci/run`) makes that a failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// Root may not run PostgreSQL: its commands run as this user.
    run_as: Option<String>,
}

/// Where the distribution put PostgreSQL's server programs: `PATH`, then Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest first).
fn find_bin() -> Option<PathBuf> {
    let on_path =
        std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()?.parse::<u32>().ok()),
        )
    });
    on_path.chain(debian).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A free port on 127.0.0.1, as the kernel hands one out.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Pg {
    /// A new cluster, started; `None` (with the reason on stderr) where PostgreSQL is missing.
    pub fn start() -> Option<Pg> {
        let Some(bin) = find_bin() else {
            let why = "no PostgreSQL server here (initdb and pg_ctl are in Debian's `postgresql` package)";
            assert!(std::env::var_os("WARROOM_REQUIRE_POSTGRES").is_none(), "{why}");
            eprintln!("skipping: {why}");
            return None;
        };
        let run_as = is_root().then(|| "postgres".to_string());
        let dir = tempfile::Builder::new().prefix("warroom-pg").tempdir_in("/tmp").unwrap();
        if let Some(user) = &run_as {
            // Root may not run PostgreSQL; the package's `postgres` user does, in a dir it owns.
            let status =
                Command::new("chown").args([user.as_str(), dir.path().to_str().unwrap()]).status().unwrap();
            assert!(status.success(), "chown {user} {}", dir.path().display());
        }
        let pg = Pg { dir, bin, port: free_port(), run_as };
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "warroom", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        pg.pg_ctl_start();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &["start", "-w", "-t", "60", "-D", &self.data(), "-l", log.to_str().unwrap(), "-o", &options],
        );
    }

    /// A database of its own on this cluster, as a URL.
    pub fn database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://warroom@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops at once (connections are cut) and starts again on the same data and port.
    pub fn restart(&self) {
        self.run("pg_ctl", &["stop", "-w", "-m", "immediate", "-D", &self.data()]);
        self.pg_ctl_start();
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["stop", "-w", "-m", "immediate", "-D", data.as_str()];
        let _ = match &self.run_as {
            Some(user) => Command::new("runuser").args(["-u", user, "--"]).arg(&path).args(args).output(),
            None => Command::new(&path).args(args).output(),
        };
    }
}
