//! Real consoles in tmux against a real `warroom serve`: what a responder sees and types.
//! Needs tmux (installed by .ci/run), so ignored in a bare `cargo test`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{token, write_config, ServerProcess, DEADLINE};
use warroom::client::Client;
use warroom::model::{Fact, Intent, Severity, UserRole};
use warroom::protocol::Command;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One console in its own tmux server (its own socket), so tests never share sessions.
struct Console {
    socket: String,
    _home: tempfile::TempDir,
}

impl Console {
    fn open(args: &[&str], server: &str, role: UserRole) -> Console {
        Console::open_sized(args, server, role, (120, 36))
    }

    fn open_sized(args: &[&str], server: &str, role: UserRole, size: (u16, u16)) -> Console {
        Console::open_wrapped(&[], args, server, role, size)
    }

    /// `wrapper` runs before the console (e.g. a program that then execs it).
    fn open_wrapped(
        wrapper: &[&str],
        args: &[&str],
        server: &str,
        role: UserRole,
        (w, h): (u16, u16),
    ) -> Console {
        let home = tempfile::tempdir().unwrap();
        let socket = format!("warroom-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let env = |k: &str, v: &Path| format!("{k}={}", v.display());
        let status = Proc::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", &w.to_string(), "-y", &h.to_string(), "env"])
            .arg(format!("WARROOM_SERVER={server}"))
            .arg(format!("WARROOM_TOKEN={}", token(role)))
            .arg(env("WARROOM_CONFIG_DIR", &home.path().join("config")))
            .arg(env("WARROOM_DATA_DIR", &home.path().join("data")))
            .args(wrapper)
            .arg(env!("CARGO_BIN_EXE_warroom"))
            .args(args)
            .status()
            .expect("tmux is installed");
        assert!(status.success());
        Console { socket, _home: home }
    }

    fn screen(&self) -> String {
        let out = Proc::new("tmux").args(["-L", &self.socket, "capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        assert!(Proc::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-l", text])
            .status()
            .unwrap()
            .success());
    }

    /// Presses named keys (Enter, Escape, …).
    fn press(&self, key: &str) {
        assert!(Proc::new("tmux").args(["-L", &self.socket, "send-keys", key]).status().unwrap().success());
    }

    fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    fn wait_until(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what} never appeared:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = Proc::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn server_dir() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("data");
    (dir, config, data)
}

#[test]
#[ignore = "needs tmux"]
fn two_consoles_see_each_others_declarations_and_notes() {
    let (_dir, config, data) = server_dir();
    let server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let alice = Console::open(&["tui"], &server.url, UserRole::Commander);
    let bob = Console::open(&["tui"], &server.url, UserRole::Responder);
    alice.wait_for("alice (commander)");
    bob.wait_for("bob (responder)");

    alice.type_text(":declare SEV2 Checkout is down");
    alice.press("Enter");
    let seen = bob.wait_for("Checkout is down");
    assert!(seen.contains("SEV2"), "{seen}");

    bob.press("n");
    bob.wait_for("Note on INC-1");
    bob.type_text("PSP returns 502 on authorize");
    bob.press("Enter");
    let seen = alice.wait_for("PSP returns 502 on authorize");
    assert!(seen.contains("bob"), "the note shows who wrote it:\n{seen}");
    alice.press("q");
}

#[test]
#[ignore = "needs tmux"]
fn a_note_written_offline_reaches_the_server_after_restart() {
    let (_dir, config, data) = server_dir();
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let listen = server.listen.clone();
    let url = server.url.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(&url, &token(UserRole::Commander)).unwrap();
    rt.block_on(client.send(&Command::new(Intent::DeclareIncident {
        title: "Payments failing".into(),
        severity: Severity::Sev1,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
    })))
    .unwrap();
    let console = Console::open(&["tui"], &url, UserRole::Responder);
    console.wait_for("Payments failing");
    console.wait_for("online");

    server.kill();
    console.wait_for("OFFLINE");
    console.press("n");
    console.wait_for("Note on INC-1");
    console.type_text("written while the server was down");
    console.press("Enter");
    console.wait_for("1 queued");

    let _server = ServerProcess::spawn(&data, &config, &listen);
    console.wait_for("written while the server was down");
    console.wait_for("0 queued");
    let notes: Vec<String> = rt
        .block_on(async { common::all_events(&client).await })
        .into_iter()
        .filter_map(|e| match e.fact {
            Fact::NoteAdded { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(notes, ["written while the server was down"], "applied exactly once");
}

#[test]
#[ignore = "needs tmux"]
fn the_demo_opens_on_its_incidents_with_no_set_up() {
    let console = Console::open(&["demo"], "http://unused", UserRole::Commander);
    console.wait_for("Checkout returns 502 for card payments");
    console.wait_for("alice (commander)");
    console.press("q");
}

#[test]
#[ignore = "needs tmux"]
fn ticking_a_step_and_sending_its_message_resets_the_clock() {
    let console = Console::open_sized(&["demo"], "http://unused", UserRole::Commander, (160, 44));
    console.wait_for("Major outage 0/11 done");
    console.wait_for("status_page update due in 04:");
    console.press("Tab");
    console.press("Tab");
    console.press("Tab");
    console.press("Space");
    console.wait_for("Major outage 1/11 done");
    console.wait_for("✓ alice");
    console.press("j");
    console.press("j");
    console.press("m");
    console.wait_for("INC-1 → public (step status-page)");
    console.press("Enter");
    console.wait_for("Major outage 2/11 done");
    console.wait_for("public: delivered (published on the status page)");
    // Sending on the status page reset its clock to the SEV1 cadence (20 min).
    let shown = console.wait_until("a reset status page clock", |s| {
        s.contains("status_page update due in 19:") || s.contains("status_page update due in 20:00")
    });
    // Ticking notify-staff by hand told staff outside warroom: its clock restarted (15 min);
    // the customers' clock keeps running.
    assert!(
        shown.contains("staff update due in 14:") || shown.contains("staff update due in 15:00"),
        "a hand-ticked comms step restarts its clock:\n{shown}"
    );
    assert!(shown.contains("customers update due in 04:"), "the other clocks keep running:\n{shown}");
    console.press("q");
}

#[test]
#[ignore = "needs tmux"]
fn a_stopped_service_turns_red_on_two_consoles_and_i_declares() {
    let (_dir, config, data) = server_dir();
    let server = ServerProcess::spawn_with(&data, &config, "127.0.0.1:0", &["--demo"]);
    let alice = Console::open_sized(&["tui"], &server.url, UserRole::Commander, (160, 44));
    let bob = Console::open_sized(&["tui"], &server.url, UserRole::Responder, (160, 44));
    for c in [&alice, &bob] {
        c.wait_for("Health 5 up");
    }
    // Break the payment service through the demo shop's admin endpoint.
    let shop = std::fs::read_to_string(data.join("demo-shop.toml")).unwrap();
    let field =
        |k: &str| shop.lines().find(|l| l.starts_with(k)).unwrap().split('"').nth(1).unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let resp = rt
        .block_on(
            reqwest::Client::new()
                .post(format!("{}/admin/services/payment/stop", field("admin_url")))
                .bearer_auth(field("admin_token"))
                .send(),
        )
        .unwrap();
    assert!(resp.status().is_success());
    for c in [&alice, &bob] {
        c.wait_for("✖ down     payment");
    }
    // Health pane, the payment row (down: first), i: the demo's open INC-1 already lists
    // payment, so it is selected instead of a duplicate declare form (issue 11, item 5).
    for _ in 0..2 {
        bob.press("Tab");
    }
    bob.press("i");
    let shown = bob.wait_for("INC-1 is already open for payment");
    assert!(!shown.contains("Declare an incident"), "{shown}");
}

#[test]
#[ignore = "needs tmux"]
fn a_console_that_never_reached_its_server_queues_nothing_and_says_why() {
    // A port nothing listens on, as with a typo in WARROOM_SERVER.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let console = Console::open(&["tui"], &format!("http://{addr}"), UserRole::Commander);
    console.wait_for("OFFLINE");
    console.type_text(":declare SEV2 Typo in the URL");
    console.press("Enter");
    let seen = console.wait_for("never reached");
    assert!(seen.contains("0 queued"), "{seen}");
}

/// A terminal can vanish without its hangup reaching the console (seen: a console orphaned
/// at 80% CPU, crossterm spinning on the dead pty). Here SIGHUP and SIGTERM are blocked, so
/// only noticing the dead terminal can end it: it must exit, not spin.
#[test]
#[ignore = "needs tmux and python3"]
fn a_console_whose_terminal_vanishes_exits_instead_of_spinning() {
    let block = "import os,signal,sys; signal.pthread_sigmask(signal.SIG_BLOCK,[signal.SIGHUP,signal.SIGTERM]); os.execv(sys.argv[1], sys.argv[1:])";
    let console = Console::open_wrapped(
        &["python3", "-c", block],
        &["tui"],
        "http://127.0.0.1:9",
        UserRole::Commander,
        (100, 30),
    );
    let socket = console.socket.clone();
    console.wait_for("OFFLINE");
    let pid = Proc::new("tmux").args(["-L", &socket, "display", "-p", "#{pane_pid}"]).output().unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Name:\twarroom"), "{status}");
    drop(console); // kill-server: the pty goes away
    let deadline = Instant::now() + DEADLINE;
    loop {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"));
        if !alive {
            break;
        }
        assert!(Instant::now() < deadline, "the console outlived its terminal");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs tmux"]
fn a_private_incident_shows_on_its_members_consoles_only_and_follows_membership_live() {
    let (_dir, config, data) = server_dir();
    let server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let alice = Console::open(&["tui"], &server.url, UserRole::Commander);
    let bob = Console::open(&["tui"], &server.url, UserRole::Responder);
    alice.wait_for("alice (commander)");
    bob.wait_for("bob (responder)");

    alice.type_text(":declare --private SEV1 Card data exposed");
    alice.press("Enter");
    alice.wait_for("Card data exposed");
    // A public incident declared after it: once bob sees that, he has been sent everything
    // before it too, and the private one must not be on his screen.
    alice.type_text(":declare SEV3 Search is slow");
    alice.press("Enter");
    let seen = bob.wait_for("Search is slow");
    assert!(!seen.contains("Card data exposed") && !seen.contains("INC-1 "), "a non-member sees it:\n{seen}");

    alice.type_text(":open INC-1");
    alice.press("Enter");
    alice.type_text(":member add bob");
    alice.press("Enter");
    bob.wait_for("Card data exposed");

    alice.type_text(":member remove bob");
    alice.press("Enter");
    bob.wait_until("the incident to leave bob's console", |s| !s.contains("Card data exposed"));
    alice.press("q");
}

/// Issue 11's acceptance: a whole incident with a commander and a responder side by side,
/// checking on screen the composer (1), alerts (6), the stale view (7), a refused token (8)
/// and commands written offline (10).
#[test]
#[ignore = "needs tmux"]
fn a_whole_incident_with_a_commander_and_a_responder() {
    let (_dir, config, data) = server_dir();
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let (url, listen) = (server.url.clone(), server.listen.clone());
    let size = (160, 44);
    let alice = Console::open_sized(&["tui"], &url, UserRole::Commander, size);
    let bob = Console::open_sized(&["tui"], &url, UserRole::Responder, size);
    alice.wait_for("alice (commander)");
    bob.wait_for("bob (responder)");

    // 8: a wrong token is named as such, with the fix.
    let stranger = Console::open_wrapped(
        &["env", "WARROOM_TOKEN=not-a-token"],
        &["tui"],
        &url,
        UserRole::Responder,
        size,
    );
    let seen = stranger.wait_for("not signed in: the server refused this token");
    assert!(seen.contains("WARROOM_TOKEN") && !seen.contains("no incidents"), "{seen}");
    drop(stranger);

    // 6: a SEV1 declared by the commander alerts the responder and names who.
    alice.type_text(":declare SEV1 Checkout is down");
    alice.press("Enter");
    bob.wait_for("SEV1 INC-1 declared by alice: Checkout is down");
    alice.type_text(":assign scribe bob");
    alice.press("Enter");
    bob.wait_for("alice made you scribe on INC-1");
    bob.wait_for("★ Checkout is down");

    // 1: a long note is soft-wrapped in the form (its start and end both on screen) and
    // arrives exactly as typed.
    let long = "PSP answers 502 on authorize since the 13:40 deploy; rolling back the adapter now, \
                card payments should recover within ten minutes, next update at 14:10 UTC";
    bob.press("n");
    bob.wait_for("Note on INC-1");
    bob.type_text(long);
    let form = bob.wait_for("next update at 14:10 UTC");
    assert!(form.contains("PSP answers 502"), "the start stays visible:\n{form}");
    bob.press("Enter");
    alice.wait_for("PSP answers 502 on authorize");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(&url, &token(UserRole::Commander)).unwrap();
    let notes: Vec<String> = rt
        .block_on(async { common::all_events(&client).await })
        .into_iter()
        .filter_map(|e| match e.fact {
            Fact::NoteAdded { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(notes, [long], "sent exactly as typed, no line breaks");

    // 7: the server goes away: the view says how old it is.
    server.kill();
    let seen = bob.wait_for("STALE");
    assert!(seen.contains("OFFLINE") && seen.contains("old"), "{seen}");

    // 10: a note written offline shows as pending, with the time it was written.
    bob.press("n");
    bob.wait_for("Note on INC-1");
    bob.type_text("written while the server was down");
    bob.press("Enter");
    let seen = bob.wait_for("⧗ pending");
    assert!(seen.contains("written while the server was down (written "), "{seen}");
    assert!(seen.contains("1 queued"), "{seen}");

    let _server = ServerProcess::spawn(&data, &config, &listen);
    alice.wait_for("written while the server was down");
    bob.wait_until("the pending entry to become the logged one", |s| {
        s.contains("written while the server was down") && !s.contains("⧗ pending") && s.contains("live")
    });
    alice.press("q");
    bob.press("q");
}

/// Issue 13's acceptance 7: a villain console starts a scenario from its chaos pane, a hero
/// console on the same server sees the probe go red and the chaos banner, the villain halts
/// all, both see the halt and the hero's health comes back.
#[test]
#[ignore = "needs tmux"]
fn a_villain_breaks_the_shop_a_hero_sees_it_and_the_villain_halts_all() {
    let (_dir, config, data) = server_dir();
    let server = ServerProcess::spawn_with(&data, &config, "127.0.0.1:0", &["--demo"]);
    let size = (160, 44);
    let villain = Console::open_sized(&["tui"], &server.url, UserRole::Villain, size);
    let hero = Console::open_sized(&["tui"], &server.url, UserRole::Commander, size);
    hero.wait_for("alice (commander)");
    hero.wait_for("Health 5 up");
    // A villain's console opens on the chaos pane, with the catalogue.
    villain.wait_for("victor (villain)");
    villain.wait_until("the chaos pane with its catalogue", |s| {
        s.contains("Chaos armed") && s.contains("payment-errors") && s.contains("s start")
    });

    // The second scenario of the catalogue (sorted by id): payment-errors.
    villain.press("j");
    villain.press("s");
    let confirm = villain.wait_for("Start payment-errors? It breaks payment for real");
    assert!(confirm.contains("payment must be up"), "the blast radius is shown first:\n{confirm}");
    villain.press("Enter");

    hero.wait_for("CHAOS: RUN-1 payment-errors");
    let red = hero.wait_for("✖ down     payment");
    assert!(red.contains("[STATUS] (502) == 200"), "the probe says why:\n{red}");

    villain.press("H");
    villain.wait_for("halt from console");
    villain.press("Enter");
    for c in [&villain, &hero] {
        c.wait_for("CHAOS DISARMED by victor: halt from console");
    }
    let back = hero
        .wait_until("payment up again", |s| s.contains("Health 5 up") && s.contains("● up       payment"));
    assert!(!back.contains("payment-errors running"), "the run is over:\n{back}");
    villain.press("q");
    hero.press("q");
}

/// `warroom demo` starts as the commander; `U` makes it the villain's console (opening on
/// the chaos pane), whose start is a real run, and `U` again goes back.
#[test]
#[ignore = "needs tmux"]
fn the_demo_is_one_key_from_the_villain_who_can_break_the_shop() {
    let console = Console::open_sized(&["demo"], "http://unused", UserRole::Commander, (160, 44));
    console.wait_for("alice (commander)");
    console.wait_for("U switch user: victor (villain)");
    // A start checks its steady state first: the probes must have seen payment up.
    console.wait_for("Health 5 up");
    console.press("U");
    let villain = console.wait_until("the villain's chaos pane", |s| {
        s.contains("online victor (villain)") && s.contains("Chaos armed") && s.contains("payment-errors")
    });
    assert!(villain.contains("this console is now victor (villain)"), "{villain}");
    console.press("j");
    console.press("s");
    console.wait_for("Start payment-errors?");
    console.press("Enter");
    console.wait_for("CHAOS: RUN-1 payment-errors running");
    console.wait_for("U switch user: alice (commander)");
    console.press("U");
    let alice = console.wait_until("alice's console again", |s| {
        s.contains("online alice (commander)") && s.contains("CHAOS: RUN-1 payment-errors")
    });
    // The flash says it (and takes the hint row while it shows).
    assert!(alice.contains("this console is now alice (commander); U: back to victor (villain)"), "{alice}");
    console.press("q");
}

#[test]
#[ignore = "needs tmux"]
fn the_demo_can_start_as_the_villain() {
    let console =
        Console::open_sized(&["demo", "--as", "villain"], "http://unused", UserRole::Villain, (160, 44));
    console.wait_until("victor's chaos pane", |s| {
        s.contains("online victor (villain)")
            && s.contains("Chaos armed")
            && s.contains("U switch user: alice")
    });
    console.press("q");
}

/// No terminal needed: a name the demo does not have is an error naming who there is,
/// before any console starts.
#[test]
fn the_demo_refuses_an_unknown_user_and_lists_who_there_is() {
    let home = tempfile::tempdir().unwrap();
    let out = Proc::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["demo", "--as", "mallory"])
        .env("WARROOM_CONFIG_DIR", home.path().join("config"))
        .env("WARROOM_DATA_DIR", home.path().join("data"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--as: no demo user or role `mallory`"), "{err}");
    assert!(err.contains("victor (villain)"), "{err}");
}

/// Switching users keeps the terminal as it was (alternate screen, mouse), and quitting
/// after switches restores it: what tmux itself records about the pane.
#[test]
#[ignore = "needs tmux"]
fn switching_users_keeps_the_terminal_and_quitting_restores_it() {
    // The pane outlives the console (bounded), so its modes can be read after the quit.
    let console = Console::open_wrapped(
        &["sh", "-c", "\"$0\" \"$@\"; echo console-ended; exec sleep 30"],
        &["demo"],
        "http://unused",
        UserRole::Commander,
        (160, 44),
    );
    let modes = || {
        let f = "alt=#{alternate_on} mouse=#{mouse_any_flag} sgr=#{mouse_sgr_flag} cursor=#{cursor_flag}";
        let out = Proc::new("tmux").args(["-L", &console.socket, "display", "-p", f]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    console.wait_for("online alice (commander)");
    let on = modes();
    assert_eq!(on, "alt=1 mouse=1 sgr=1 cursor=0");
    for who in ["online victor (villain)", "online alice (commander)", "online victor (villain)"] {
        console.press("U");
        console.wait_for(who);
        assert_eq!(modes(), on, "as {who}");
    }
    // The demo's console runs its server: q asks once, then quits.
    console.press("q");
    console.wait_for("q again quits the demo");
    assert_eq!(modes(), on, "still running after one q");
    console.press("q");
    console.wait_for("console-ended");
    assert_eq!(modes(), "alt=0 mouse=0 sgr=0 cursor=1");
}

/// Whether a screen line shows a time (`m:ss`).
fn shows_time(line: &str) -> bool {
    let b = line.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit() && b[i + 2].is_ascii_digit()
    })
}

/// The scoreboard's row of `team` on a screen.
fn board_row(screen: &str, team: &str) -> String {
    let needle = format!(" {team} ");
    screen.lines().find(|l| l.contains(&needle) && l.contains('│')).unwrap_or_default().to_string()
}

/// Issue 14's acceptance 4: `warroom scoreboard` as the observer (read-only, full screen)
/// updates live when a team declares an incident about a running scenario's target, and shows
/// the observer a fire drill's board without the scenario's name.
#[test]
#[ignore = "needs tmux"]
fn the_scoreboard_alone_updates_live_when_a_team_declares_about_the_running_scenarios_target() {
    use warroom::model::gameday::{GameDayId, Style};
    let (_dir, config, data) = server_dir();
    let server = ServerProcess::spawn_with(&data, &config, "127.0.0.1:0", &["--demo"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = |role: UserRole| Client::new(&server.url, &token(role)).unwrap();
    let send =
        |role: UserRole, intent: Intent| rt.block_on(client(role).send(&Command::new(intent))).unwrap();
    let gameday = GameDayId(1);
    send(
        UserRole::Admin,
        Intent::CreateGameday { name: "Friday fire drill".into(), style: Style::FireDrill },
    );
    for team in ["red", "blue"] {
        send(UserRole::Admin, Intent::AddTeam { gameday, team: team.into() });
    }
    send(UserRole::Responder, Intent::JoinTeam { gameday, team: "red".into(), person: None });
    send(UserRole::Commander, Intent::JoinTeam { gameday, team: "blue".into(), person: None });
    send(
        UserRole::Admin,
        Intent::PlanScenario {
            gameday,
            scenario: "payment-errors".into(),
            briefing: None,
            note: String::new(),
            par_detect_minutes: None,
            par_mitigate_minutes: None,
            weights: Default::default(),
        },
    );
    send(UserRole::Admin, Intent::StartGameday { gameday });

    let board = Console::open_sized(&["scoreboard"], &server.url, UserRole::Observer, (120, 30));
    let shown = board.wait_until("the observer's concealed board", |s| {
        s.contains("olivia (observer)") && s.contains("Scenario #1") && s.contains("fire_drill · running")
    });
    assert!(shown.contains("read-only") && !shown.contains("Incidents"), "the board alone:\n{shown}");
    board.press("d");
    board.wait_for("this scoreboard is read-only");

    // A start checks its steady state first: the probes must have seen payment up.
    let deadline = Instant::now() + DEADLINE;
    let observer = client(UserRole::Observer);
    while !rt.block_on(observer.snapshot()).is_ok_and(|s| {
        s.state.probes.get("payment").is_some_and(|p| p.health == warroom::model::probe::Health::Up)
    }) {
        assert!(Instant::now() < deadline, "payment never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    send(UserRole::Villain, Intent::StartScenario { scenario: "payment-errors".into() });
    let shown = board.wait_for("injected");
    assert!(!shows_time(&board_row(&shown, "red")), "red has detected nothing yet:\n{shown}");

    send(
        UserRole::Responder,
        Intent::DeclareIncident {
            title: "Card payments fail".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: false,
            services: vec!["payment".into()],
            private: false,
        },
    );
    let shown = board.wait_until("red's detection time on the board", |s| shows_time(&board_row(s, "red")));
    assert!(board_row(&shown, "red").contains("1."), "red leads:\n{shown}");
    assert!(!shown.contains("payment-errors"), "the scenario stays concealed:\n{shown}");
    board.press("q");
    send(UserRole::Villain, Intent::HaltAll { reason: "test over".into() });
}

/// Issue 15: `E` lends the terminal to `$EDITOR` (a script standing in for a person: it writes
/// the summary under its heading) and takes it back; the console saves what the editor left
/// as the postmortem's first revision, tagged notes and all.
#[test]
#[ignore = "needs tmux"]
fn e_writes_the_postmortem_in_the_users_editor_and_saves_a_revision() {
    let (dir, config, data) = server_dir();
    let server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(&server.url, &token(UserRole::Commander)).unwrap();
    for intent in [
        Intent::DeclareIncident {
            title: "Checkout is down".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: false,
        },
        Intent::AddNote { incident: warroom::model::IncidentId(1), text: "#well paging worked".into() },
    ] {
        rt.block_on(client.send(&Command::new(intent))).unwrap();
    }
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nawk '{ print } /^## Summary$/ { print \"Card payments failed for 12 minutes.\" }' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let console = Console::open_wrapped(
        &["env", "-u", "VISUAL", &format!("EDITOR={}", editor.display())],
        &["tui"],
        &server.url,
        UserRole::Commander,
        (120, 36),
    );
    console.wait_for("Checkout is down");
    console.wait_for("live");
    console.press("E");
    let shown = console.wait_for("revision 1 by alice · saved");
    assert!(shown.contains("Card payments failed for 12 minutes."), "{shown}");
    let incident = rt.block_on(client.incident(warroom::model::IncidentId(1))).unwrap().incident;
    let pm = incident.postmortem.expect("a postmortem");
    assert_eq!(pm.revision(), 1);
    assert_eq!(pm.document.summary, "Card payments failed for 12 minutes.");
    assert_eq!(pm.document.well, ["paging worked"], "the draft's tagged notes came along");
    console.press("Escape");
    console.wait_until("the editor closed", |s| !s.contains("postmortem Checkout is down"));
    console.press("q");
}

#[test]
#[ignore = "needs tmux"]
fn a_demo_incident_replayed_at_100x_reaches_its_end_shows_its_final_status_and_restores_the_terminal() {
    let (_dir, config, data) = server_dir();
    let server = ServerProcess::spawn_with(&data, &config, "127.0.0.1:0", &["--demo"]);
    // INC-4 of the demo is mitigated, then closed as resolved. The pane outlives the replay
    // (bounded), so its modes can be read after the quit.
    let replay = Console::open_wrapped(
        &["sh", "-c", "\"$0\" \"$@\"; echo replay-ended; exec sleep 30"],
        &["replay", "INC-4", "--speed", "100"],
        &server.url,
        UserRole::Observer,
        (120, 36),
    );
    let shown = replay.wait_until("the replay's end", |s| s.contains("■ end"));
    assert!(shown.contains("INC-4 Stock counts wrong for 12 SKUs"), "{shown}");
    assert!(
        shown.contains("SEV4 closed") && shown.contains("mitigated → closed"),
        "the final status:\n{shown}"
    );
    assert!(shown.contains("read-only · olivia (observer)"), "{shown}");
    replay.press("q");
    replay.wait_for("replay-ended");
    let f = "alt=#{alternate_on} mouse=#{mouse_any_flag} cursor=#{cursor_flag}";
    let out = Proc::new("tmux").args(["-L", &replay.socket, "display", "-p", f]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alt=0 mouse=0 cursor=1");
}
