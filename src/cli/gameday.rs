//! Game days from the command line: the game master's verbs (create, teams, plans, start,
//! hints, end, finish), heroes joining, villains confirming, and the score as a ranked table.

use std::collections::BTreeMap;

use chrono::Utc;
use clap::{Args, Subcommand};
use color_eyre::eyre::{eyre, WrapErr};
use serde_json::json;

use super::outbox::{flush_first, write};
use super::{connect, Connection};
use crate::client::Client;
use crate::model::gameday::score::{Board, Tally};
use crate::model::gameday::{GameDay, GameDayId, Stage, Style};
use crate::model::{Fact, Intent};
use crate::present::{json_safe, one_line};
use crate::protocol::{Command, GamedayView};

#[derive(Args, Debug)]
pub struct GamedayArgs {
    /// The game day to act on [default: the newest open one]
    #[arg(long, global = true, value_name = "GD-n")]
    pub gameday: Option<GameDayId>,
    #[command(subcommand)]
    pub cmd: GamedayCmd,
}

#[derive(Subcommand, Debug)]
pub enum GamedayCmd {
    /// Create a game day (the game master: an admin). One is open at a time.
    Create {
        name: String,
        /// informed, dungeons-and-dragons or fire-drill
        #[arg(long)]
        style: Style,
    },
    /// Add a hero team.
    Team { name: String },
    /// Join a team (yourself; the game master may put anyone in one with --person).
    Join {
        team: String,
        #[arg(long)]
        person: Option<String>,
    },
    /// Plan a scenario from the server's catalogue: hidden from heroes until debrief.
    Plan {
        scenario: String,
        /// What heroes of an informed game day are told at kick-off [default: the scenario's]
        #[arg(long)]
        briefing: Option<String>,
        /// The villains' note: never shown to heroes before debrief.
        #[arg(long)]
        note: Option<String>,
        /// Par time to detect, in minutes [default: 5]
        #[arg(long, value_name = "MIN")]
        par_detect: Option<u32>,
        /// Par time to mitigate, in minutes [default: 15]
        #[arg(long, value_name = "MIN")]
        par_mitigate: Option<u32>,
        /// A steady-state probe's weight (0–10) in the resilience score; repeat per probe
        /// [default: 10 each]
        #[arg(long = "weight", value_name = "PROBE=N", value_parser = probe_weight)]
        weights: Vec<(String, u8)>,
    },
    /// Start the game day: chaos runs only for planned scenarios, incidents are drills.
    Start,
    /// Give a team a hint (it costs them points), about one planned scenario or in general.
    Hint {
        team: String,
        /// The planned scenario it helps with (`2` or `#2`).
        #[arg(long, value_parser = plan_number)]
        plan: Option<u32>,
        text: String,
    },
    /// Confirm that a team's mitigation of a planned scenario works (villains, the game master).
    Confirm {
        team: String,
        /// The planned scenario (`2` or `#2`).
        #[arg(value_parser = plan_number)]
        plan: u32,
    },
    /// End the game: debrief, everything hidden is revealed to everyone.
    End,
    /// Finish the debrief: the scoreboard stops moving; a new game day may be created.
    Finish,
    /// The scoreboard: teams ranked, per scenario times, comms-first marks, hints, and each
    /// scenario's resilience score.
    Score,
    /// The game day: teams, the plans as you may see them, hints, and the big screen's share
    /// link (for the game master and villains).
    Show,
}

pub(super) async fn gameday(conn: &Connection, json: bool, args: GamedayArgs) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let named = args.gameday;
    let intent = match args.cmd {
        GamedayCmd::Create { name, style } => Intent::CreateGameday { name, style },
        GamedayCmd::Score => return score(&client, json, named).await,
        GamedayCmd::Show => return show(&client, json, named).await,
        GamedayCmd::Team { name } => Intent::AddTeam { gameday: open(&client, named).await?, team: name },
        GamedayCmd::Join { team, person } => {
            Intent::JoinTeam { gameday: open(&client, named).await?, team, person }
        }
        GamedayCmd::Plan { scenario, briefing, note, par_detect, par_mitigate, weights } => {
            Intent::PlanScenario {
                gameday: open(&client, named).await?,
                scenario,
                briefing,
                note: note.unwrap_or_default(),
                par_detect_minutes: par_detect,
                par_mitigate_minutes: par_mitigate,
                weights: weight_map(weights)?,
            }
        }
        GamedayCmd::Start => Intent::StartGameday { gameday: open(&client, named).await? },
        GamedayCmd::Hint { team, plan, text } => {
            Intent::GiveHint { gameday: open(&client, named).await?, team, plan, text }
        }
        GamedayCmd::Confirm { team, plan } => {
            Intent::ConfirmMitigation { gameday: open(&client, named).await?, team, plan }
        }
        GamedayCmd::End => Intent::EndGameday { gameday: open(&client, named).await? },
        GamedayCmd::Finish => Intent::FinishGameday { gameday: open(&client, named).await? },
    };
    write(&client, json, Command::new(intent)).await
}

/// `checkout=7` → (`checkout`, 7); the server checks the probe and the 0–10 range.
fn probe_weight(s: &str) -> Result<(String, u8), String> {
    let (probe, w) =
        s.split_once('=').ok_or_else(|| format!("`{s}`: expected PROBE=WEIGHT, e.g. checkout=7"))?;
    let w = w.trim().parse::<u8>().map_err(|_| format!("`{s}`: the weight is a whole number, 0 to 10"))?;
    Ok((probe.trim().to_string(), w))
}

fn weight_map(weights: Vec<(String, u8)>) -> color_eyre::Result<BTreeMap<String, u8>> {
    let mut map = BTreeMap::new();
    for (probe, w) in weights {
        if map.insert(probe.clone(), w).is_some() {
            return Err(eyre!("--weight: `{}` is given twice", one_line(&probe)));
        }
    }
    Ok(map)
}

/// `2` or `#2`: how plans are named to heroes.
fn plan_number(s: &str) -> Result<u32, String> {
    s.trim()
        .trim_start_matches('#')
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a planned scenario's number (e.g. 2 or #2)"))
}

/// The game day a changing verb acts on: the one named, else the newest open one. What you
/// queued offline is sent first, so a game day you created while away is found.
async fn open(client: &Client, named: Option<GameDayId>) -> color_eyre::Result<GameDayId> {
    if let Some(id) = named {
        return Ok(id);
    }
    flush_first(client).await?;
    let view = client
        .gameday()
        .await
        .wrap_err("finding the open game day (pass --gameday GD-n to queue the command while away)")?;
    match view.gameday {
        Some(g) if g.stage != Stage::Finished => Ok(g.id),
        Some(g) => Err(eyre!(
            "no open game day: the newest, {} ({}), is finished; `warroom gameday create NAME --style \
             fire-drill` (an admin) starts another",
            g.id,
            one_line(&g.name)
        )),
        None => Err(eyre!(
            "no game day on this server yet: `warroom gameday create NAME --style fire-drill` (an admin) \
             creates one"
        )),
    }
}

/// The newest game day as the server shows it to you, or an older one from your snapshot with
/// its board folded here from the log (an older one is finished: nothing of it is hidden).
async fn view(client: &Client, named: Option<GameDayId>) -> color_eyre::Result<GamedayView> {
    flush_first(client).await?;
    let view = client.gameday().await?;
    let newest = view.gameday.as_ref().map(|g| g.id);
    let Some(id) = named.filter(|id| Some(*id) != newest) else {
        return match view.gameday {
            Some(_) => Ok(view),
            None => Err(eyre!("no game day on this server yet")),
        };
    };
    let state = super::snapshot(client).await?;
    let g = state
        .gamedays
        .0
        .get(&id)
        .cloned()
        .ok_or_else(|| eyre!("no game day {id} on this server (the newest is {})", fmt_id(newest)))?;
    let board = fold(client, &g).await?;
    Ok(GamedayView { gameday: Some(g), board: Some(board), board_hidden: None, share_url: None })
}

fn fmt_id(id: Option<GameDayId>) -> String {
    id.map_or_else(|| "none".to_string(), |id| id.to_string())
}

/// A game day's board recomputed from the log, as anyone may: its events from its creation to
/// its finish through the same fold the server runs.
async fn fold(client: &Client, g: &GameDay) -> color_eyre::Result<Board> {
    let mut tally = Tally::new(g.id);
    let mut after = g.created_seq.saturating_sub(1);
    'pages: loop {
        let page = client.events(after, 1000).await?;
        if page.events.is_empty() {
            break;
        }
        for e in &page.events {
            tally.apply(e);
            after = e.seq;
            if matches!(&e.fact, Fact::GamedayFinished { gameday } if *gameday == g.id) {
                break 'pages;
            }
        }
    }
    tally.board(g.ended_at.unwrap_or_else(Utc::now)).ok_or_else(|| {
        eyre!("{}'s creation (seq {}) is not in the log this server gave", g.id, g.created_seq)
    })
}

async fn score(client: &Client, json: bool, named: Option<GameDayId>) -> color_eyre::Result<()> {
    let view = view(client, named).await?;
    if json {
        // The same shape as the big screen's `/gameday/scoreboard.json`.
        let shown = json!({ "board": view.board, "hidden": view.board_hidden });
        out!("{}", json_safe(serde_json::to_string_pretty(&shown)?));
        return Ok(());
    }
    match (&view.board, &view.board_hidden, &view.gameday) {
        (Some(board), _, _) => {
            for line in score_lines(board) {
                out!("{line}");
            }
        }
        (None, Some(why), _) => out!("{}", one_line(why)),
        (None, None, Some(g)) => out!("{} has no scoreboard yet", g.id),
        (None, None, None) => out!("no game day yet"),
    }
    Ok(())
}

/// `m:ss`, as game clocks read.
fn mmss(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn percent(p: f64) -> String {
    let text = format!("{p:.1}");
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

/// The board as a ranked table: one row per team, for each planned scenario the time to
/// detect and to mitigate, whether they communicated first, and the hints they took; then
/// each scenario's resilience.
pub fn score_lines(board: &Board) -> Vec<String> {
    let mut lines = vec![format!(
        "{} {} · {} · {} · judged {}",
        board.gameday,
        one_line(&board.name),
        board.style,
        board.stage,
        board.at.format("%Y-%m-%d %H:%M:%S UTC")
    )];
    let width = board.teams.iter().map(|t| one_line(&t.team).chars().count()).max().unwrap_or(4).max(4);
    let general = board.teams.iter().any(|t| t.general_hints > 0);
    let mut head = format!("{:>4}  {:<width$}  {:>6}", "rank", "team", "points");
    for s in &board.scenarios {
        head.push_str(&format!(
            "  │ #{:<2} {:>6} {:>8} {:>5} {:>5}",
            s.plan, "detect", "mitigate", "comms", "hints"
        ));
    }
    if general {
        head.push_str("  │ general hints");
    }
    lines.push(head);
    if board.teams.is_empty() {
        lines.push("  no teams yet: `warroom gameday team NAME`".into());
    }
    for t in &board.teams {
        let mut row = format!("{:>4}  {:<width$}  {:>6}", t.rank, one_line(&t.team), t.points);
        for c in &t.cells {
            let comms = match c.comms_first {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "·",
            };
            row.push_str(&format!(
                "  │ {:<3} {:>6} {:>8} {:>5} {:>5}",
                "",
                c.detect_secs.map_or_else(|| "—".into(), mmss),
                c.mitigate_secs.map_or_else(|| "—".into(), mmss),
                comms,
                c.hints
            ));
        }
        if general {
            row.push_str(&format!("  │ {}", t.general_hints));
        }
        lines.push(row);
    }
    lines.push(String::new());
    lines.push("resilience (LitmusChaos: weighted share of steady-state probes that held):".into());
    if board.scenarios.is_empty() {
        lines.push("  no scenario planned yet".into());
    }
    for s in &board.scenarios {
        let name = match (&s.scenario, &s.title) {
            (Some(id), Some(title)) => format!("{} {}", one_line(id), one_line(title)),
            (Some(id), None) => one_line(id),
            _ => "(hidden until debrief)".into(),
        };
        let how = match (s.resilience, s.injected_at, s.ended) {
            (Some(r), _, _) => percent(r),
            (None, _, true) => "not judged (no steady-state probe)".into(),
            (None, Some(at), false) => format!("running since {}", at.format("%H:%M:%S UTC")),
            (None, None, false) => "not started".into(),
        };
        lines.push(format!(
            "  #{} {name}  par {}/{}: {how}",
            s.plan,
            mmss(s.par_detect_secs),
            mmss(s.par_mitigate_secs)
        ));
    }
    lines
}

async fn show(client: &Client, json: bool, named: Option<GameDayId>) -> color_eyre::Result<()> {
    let view = view(client, named).await?;
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(&view)?));
        return Ok(());
    }
    let Some(g) = &view.gameday else { return Err(eyre!("no game day on this server yet")) };
    // Only the game master and villains get the share link; they also see every plan.
    let knows_plot = view.share_url.is_some() || !g.stage.hides();
    for line in show_lines(g, knows_plot) {
        out!("{line}");
    }
    match &view.share_url {
        Some(url) => out!("big screen: {}  (read-only; share it with the room)", one_line(url)),
        None if g.stage != Stage::Finished => {
            out!("big screen: the game master and villains have its share link")
        }
        None => {}
    }
    Ok(())
}

fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A game day as text; `knows_plot`: the caller is shown every plan (else an empty list means
/// they are hidden, not that none was planned).
pub fn show_lines(g: &GameDay, knows_plot: bool) -> Vec<String> {
    let mut lines = vec![format!("{}  {}", g.id, one_line(&g.name))];
    let style = match g.style {
        Style::Informed => "heroes are told each scenario's target and briefing at kick-off",
        Style::DungeonsAndDragons => "heroes see nothing of the chaos, nor the scoreboard, until debrief",
        Style::FireDrill => "heroes see nothing of the chaos until debrief; the scoreboard is for all",
    };
    lines.push(format!("style:    {} ({style})", g.style));
    let stage = match g.stage {
        Stage::Planned => {
            format!("planned (created {} by {})", when(Some(g.created_at)), one_line(&g.master))
        }
        Stage::Running => format!("running since {}", when(g.started_at)),
        Stage::Debrief => format!("debrief since {} (played from {})", when(g.ended_at), when(g.started_at)),
        Stage::Finished => format!("finished {} (played from {})", when(g.finished_at), when(g.started_at)),
    };
    lines.push(format!("stage:    {stage}"));
    lines.push(format!("master:   {}", one_line(&g.master)));
    lines.push(format!("weights:  {}", g.weights));
    lines.push("teams:".into());
    if g.teams.is_empty() {
        lines.push("  none yet".into());
    }
    for t in g.teams.values() {
        let members: Vec<String> = t.members.iter().map(|m| one_line(m)).collect();
        let members = if members.is_empty() { "(nobody yet)".to_string() } else { members.join(", ") };
        lines.push(format!("  {:<16} {members}", one_line(&t.name)));
    }
    lines.push("scenarios:".into());
    if g.plans.is_empty() {
        lines.push(if knows_plot { "  none planned yet" } else { "  hidden until debrief" }.into());
    }
    for p in &g.plans {
        lines.push(format!(
            "  #{} {}: {} — targets {}; par detect {}, mitigate {}",
            p.n,
            one_line(&p.scenario),
            one_line(&p.title),
            one_line(&p.target.join(", ")),
            mmss(p.par_detect_secs),
            mmss(p.par_mitigate_secs)
        ));
        if !p.steady_state.is_empty() {
            let weights: Vec<String> = p
                .steady_state
                .iter()
                .map(|probe| format!("{}={}", one_line(probe), p.weight(probe)))
                .collect();
            lines.push(format!("     steady state (weights): {}", weights.join(", ")));
        }
        if !p.briefing.is_empty() {
            lines.push(format!("     briefing: {}", one_line(&p.briefing)));
        }
        if !p.note.is_empty() {
            lines.push(format!("     villains' note: {}", one_line(&p.note)));
        }
    }
    if !g.kickoffs.is_empty() {
        lines.push("kick-offs:".into());
        for k in &g.kickoffs {
            lines.push(format!("  {}", one_line(&k.message(&g.id.to_string()))));
        }
    }
    if !g.hints.is_empty() {
        lines.push("hints:".into());
        for h in &g.hints {
            let about = h.plan.map_or_else(|| "in general".to_string(), |n| format!("about #{n}"));
            lines.push(format!(
                "  {} {} to {} {about}: {}",
                h.at.format("%H:%M:%S"),
                one_line(&h.by),
                one_line(&h.team),
                one_line(&h.text)
            ));
        }
    }
    if !g.confirmations.is_empty() {
        lines.push("mitigations confirmed:".into());
        for c in &g.confirmations {
            lines.push(format!(
                "  {} {} confirmed {}'s mitigation of #{}",
                c.at.format("%H:%M:%S"),
                one_line(&c.by),
                one_line(&c.team),
                c.plan
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gameday::score::{Cell, ScenarioScore, TeamScore};
    use crate::model::gameday::Weights;

    fn board() -> Board {
        let at = "2026-11-22T10:30:00Z".parse().unwrap();
        let team = |rank, name: &str, points, cell: Cell| TeamScore {
            rank,
            team: name.into(),
            members: vec![],
            points,
            general_hints: 0,
            cells: vec![cell],
        };
        Board {
            gameday: GameDayId(2),
            name: "Spring\u{1b}[2J drill".into(),
            style: Style::FireDrill,
            stage: Stage::Running,
            at,
            weights: Weights::default(),
            teams: vec![
                team(
                    1,
                    "blue",
                    250,
                    Cell {
                        plan: 1,
                        detect_secs: Some(65),
                        mitigate_secs: Some(610),
                        comms_first: Some(true),
                        points: 250,
                        ..Cell::default()
                    },
                ),
                team(2, "red\u{7}", -25, Cell { plan: 1, hints: 1, points: -25, ..Cell::default() }),
            ],
            scenarios: vec![ScenarioScore {
                plan: 1,
                scenario: None,
                title: None,
                target: vec![],
                par_detect_secs: 300,
                par_mitigate_secs: 900,
                run: None,
                injected_at: Some(at),
                ended: false,
                resilience: None,
            }],
            concealed: true,
        }
    }

    #[test]
    fn the_score_table_ranks_teams_with_mm_ss_times_and_comms_marks() {
        let lines = score_lines(&board());
        assert!(lines[0].starts_with("GD-2 Spring\\u{1b}[2J drill · fire_drill · running"), "{}", lines[0]);
        let blue = lines.iter().find(|l| l.contains("blue")).unwrap();
        assert!(blue.trim_start().starts_with("1  blue"), "{blue}");
        for want in ["250", "1:05", "10:10", "✓"] {
            assert!(blue.contains(want), "{want} missing from {blue}");
        }
        let red = lines.iter().find(|l| l.contains("red")).unwrap();
        assert!(red.contains("red\\u{7}") && red.contains("-25") && red.contains('—'), "{red}");
        assert!(lines.iter().any(|l| l.contains("#1 (hidden until debrief)  par 5:00/15:00: running")));
        assert!(lines.iter().all(|l| !l.contains('\u{1b}') && !l.contains('\u{7}')), "{lines:#?}");
    }

    #[test]
    fn resilience_is_shown_as_a_percentage_once_judged() {
        let mut b = board();
        b.scenarios[0].scenario = Some("slow-checkout".into());
        b.scenarios[0].resilience = Some(62.5);
        b.scenarios[0].ended = true;
        let lines = score_lines(&b);
        assert!(lines.iter().any(|l| l.contains("#1 slow-checkout") && l.ends_with(": 62.5%")), "{lines:#?}");
        b.scenarios[0].resilience = Some(100.0);
        assert!(score_lines(&b).iter().any(|l| l.ends_with(": 100%")));
    }

    #[test]
    fn weights_and_plan_numbers_parse_as_typed() {
        assert_eq!(probe_weight("checkout = 7"), Ok(("checkout".into(), 7)));
        assert!(probe_weight("checkout").unwrap_err().contains("PROBE=WEIGHT"));
        assert!(probe_weight("checkout=eleventy").is_err());
        assert_eq!(plan_number("#2"), Ok(2));
        assert_eq!(plan_number("3"), Ok(3));
        assert!(plan_number("#0").is_err() && plan_number("two").is_err());
        assert!(weight_map(vec![("a".into(), 1), ("a".into(), 2)]).is_err());
    }
}
