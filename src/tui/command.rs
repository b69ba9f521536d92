//! The `:` command line: the CLI's verbs against the selected incident, with completion
//! and history. Parsing is pure and returns what to do, never does it.
//! One vocabulary: a verb without its arguments, and any action's own name (`:zoom`), is the
//! keymap's `Action`, so `:note` opens the same form as `n`.

use super::keymap::Action;
use crate::model::gameday::{GameDay, GameDayId, Style};
use crate::model::{IncidentId, Intent, Milestone, Role, Severity, Status, UserRole};

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Intent(Intent),
    Theme(String),
    Open(IncidentId),
    Filter(String),
    /// Open the message form for a channel.
    Compose(String),
    /// What a key bound to this action does.
    Action(Action),
    /// Become this demo user, named by name or role (the demo only).
    SwitchUser(String),
    /// The stats pane over this range.
    Stats(crate::model::stats::Since),
    /// The action-items overlay, all items or open ones only.
    Actions {
        open_only: bool,
    },
}

/// A verb of the command line: the source for completion, errors and the help overlay.
pub struct Verb {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    /// What the verb does when given no arguments: the same action as its key.
    pub bare: Option<Action>,
}

const fn verb(
    name: &'static str,
    aliases: &'static [&'static str],
    usage: &'static str,
    bare: Option<Action>,
) -> Verb {
    Verb { name, aliases, usage, bare }
}

pub const VERBS: &[Verb] = &[
    verb("declare", &["dec"], "declare [--private] [SEV TITLE…]", Some(Action::Declare)),
    verb("note", &[], "note [TEXT…]", Some(Action::Note)),
    verb("status", &["st"], "status [STATUS [REASON…]]", Some(Action::Status)),
    verb("severity", &["sev"], "severity [SEV]", Some(Action::Severity)),
    verb("assign", &[], "assign [ROLE PERSON]", Some(Action::Assign)),
    verb("milestone", &[], "milestone MILESTONE [HH:MM | 2026-11-21T09:12:00Z] (UTC; default now)", None),
    verb("member", &[], "member add|remove PERSON (private incidents)", None),
    verb("tick", &[], "tick [STEP]", Some(Action::Tick)),
    verb("untick", &[], "untick STEP", None),
    verb("send", &[], "send [CHANNEL [TEXT…]]", Some(Action::Compose)),
    verb("snooze", &[], "snooze AUDIENCE MINUTES", None),
    verb("playbook", &[], "playbook [ID]", Some(Action::AttachPlaybook)),
    verb("open", &[], "open INC-N", None),
    verb("chaos", &[], "chaos [start SCENARIO | stop RUN [REASON…]]", Some(Action::Chaos)),
    verb("halt", &[], "halt [REASON…] (all chaos, at once)", Some(Action::HaltAll)),
    verb("arm", &[], "arm (chaos, after a halt)", Some(Action::ArmChaos)),
    verb("scoreboard", &["score"], "scoreboard (the game day's board)", Some(Action::Scoreboard)),
    verb(
        "gameday",
        &["gd"],
        "gameday create NAME --style STYLE | start | end | finish",
        Some(Action::Scoreboard),
    ),
    verb("team", &[], "team add NAME | join NAME", None),
    verb("plan", &[], "plan SCENARIO (into the open game day)", None),
    verb("hint", &[], "hint TEAM [#N] TEXT… (costs the team points)", None),
    verb("confirm", &[], "confirm TEAM #N (the team's mitigation worked)", None),
    verb("stats", &[], "stats [7d|30d|90d|all|SPAN|YYYY-MM-DD]", Some(Action::Stats)),
    verb("as", &[], "as USER|ROLE (the demo: whose console this is)", Some(Action::SwitchUser)),
    verb(
        "postmortem",
        &["pm"],
        "postmortem [edit] (the selected incident's; edit: in $EDITOR)",
        Some(Action::Postmortem),
    ),
    verb("action", &[], "action add TITLE @OWNER [due:YYYY-MM-DD] [link:URL] | done N", None),
    verb("actions", &[], "actions [--open] (every incident's action items)", Some(Action::Actions)),
    verb("filter", &[], "filter [TEXT…]", None),
    verb("theme", &[], "theme NAME", None),
    verb("help", &[], "help", Some(Action::Help)),
    verb("quit", &["q"], "quit", Some(Action::Quit)),
];

fn verb_of(word: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == word || v.aliases.contains(&word))
}

/// When a milestone was reached, as a commander back-fills it: an RFC 3339 time, or `HH:MM`
/// (`HH:MM:SS`) in UTC as the console shows times: the latest such time not after `now`, so
/// "23:50" typed at ten past midnight is last night.
fn milestone_time(
    when: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(when) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let clock = chrono::NaiveTime::parse_from_str(when, "%H:%M")
        .or_else(|_| chrono::NaiveTime::parse_from_str(when, "%H:%M:%S"))
        .map_err(|_| {
            format!(
                "`{}` is not a time: give HH:MM in UTC (today, or yesterday if that is still to \
                 come) or an RFC 3339 time such as 2026-11-21T09:12:00Z",
                crate::present::one_line(when)
            )
        })?;
    let today = now.date_naive().and_time(clock).and_utc();
    Ok(if today > now { today - chrono::Duration::days(1) } else { today })
}

fn usage(verb: &str) -> String {
    let u = VERBS.iter().find(|v| v.name == verb).map_or("", |v| v.usage);
    format!("usage: :{u}")
}

/// An action's own name as a verb (`:zoom`, `:next_pane`): the pane actions, not the keys
/// that only mean something inside an overlay.
fn action_of(word: &str, rest: &str) -> Option<Result<Parsed, String>> {
    let action: Action = word.parse().ok().filter(|a: &Action| !a.is_overlay())?;
    Some(if rest.is_empty() {
        Ok(Parsed::Action(action))
    } else {
        Err(format!(":{word} takes no arguments"))
    })
}

/// Game-day verbs are some roles' only: what each sends, to ask the role's `may` with, so the
/// help greys what the server would refuse. Empty for every other verb.
fn samples(verb: &str) -> Vec<Intent> {
    let gameday = GameDayId(0);
    let team = String::new();
    match verb {
        "gameday" | "plan" | "hint" => vec![Intent::StartGameday { gameday }],
        "team" => vec![
            Intent::AddTeam { gameday, team: team.clone() },
            Intent::JoinTeam { gameday, team, person: None },
        ],
        "confirm" => vec![Intent::ConfirmMitigation { gameday, team, plan: 1 }],
        _ => Vec::new(),
    }
}

/// Whether `role` may use the verb (a game-day verb some roles may not; every other verb).
pub fn may_use(verb: &Verb, role: UserRole) -> bool {
    let samples = samples(verb.name);
    samples.is_empty() || samples.iter().any(|i| role.may(i))
}

/// What the verbs act on: the selected incident, the open game day, and the time now.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub selected: Option<IncidentId>,
    pub gameday: Option<&'a GameDay>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Parses one command line. `selected` is the incident the verbs act on; game-day verbs need
/// [`parse_in`] with the open game day.
pub fn parse(
    line: &str,
    selected: Option<IncidentId>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Parsed, String> {
    parse_in(line, Target { selected, gameday: None, now })
}

/// A team named at the start of `rest`: the longest of the game day's teams it begins with
/// (names may have spaces; case is forgiven), else its first word, for the server to judge.
/// Returns the team and what follows it.
fn split_team<'r>(rest: &'r str, gameday: Option<&GameDay>) -> (String, &'r str) {
    let teams = gameday.into_iter().flat_map(|g| g.teams.keys());
    let found = teams
        .filter(|t| {
            let head = rest.get(..t.len());
            let after = rest.get(t.len()..).unwrap_or("");
            head.is_some_and(|h| h.eq_ignore_ascii_case(t))
                && (after.is_empty() || after.starts_with(char::is_whitespace))
        })
        .max_by_key(|t| t.len());
    match found {
        Some(t) => (t.clone(), rest[t.len()..].trim_start()),
        None => {
            let (first, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            (first.to_string(), after.trim_start())
        }
    }
}

/// `#2` or `2`: a planned scenario's number.
fn plan_number(word: &str) -> Result<u32, String> {
    word.trim_start_matches('#')
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{word}` is not a scenario number (#1, #2 …)"))
}

/// Parses one command line against `target`.
pub fn parse_in(line: &str, target: Target) -> Result<Parsed, String> {
    let Target { selected, now, .. } = target;
    let line = line.trim().trim_start_matches(':');
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let Some(verb) = verb_of(word) else {
        if let Some(parsed) = action_of(word, rest) {
            return parsed;
        }
        // The likely one first: the whole list is wider than any status line.
        let names: Vec<String> = VERBS.iter().map(|v| v.name.to_string()).collect();
        let word = crate::present::one_line(word);
        let close = crate::model::incident::close_matches(&word, &names);
        return Err(match close.as_slice() {
            [] => format!("unknown command `{word}` (Tab after : lists them; ? shows the keys)"),
            close => format!(
                "unknown command `{word}`: did you mean {}?",
                close.iter().map(|c| format!(":{c}")).collect::<Vec<_>>().join(" or ")
            ),
        });
    };
    if let (Some(action), true) = (verb.bare, rest.is_empty()) {
        return Ok(Parsed::Action(action));
    }
    let verb = verb.name;
    let incident =
        || selected.ok_or_else(|| format!(":{verb} acts on the selected incident: select one first"));
    let gameday = || {
        target.gameday.map(|g| g.id).ok_or_else(|| {
            format!(":{verb} needs an open game day: an admin creates one with :gameday create NAME --style STYLE")
        })
    };
    let args: Vec<&str> = rest.split_whitespace().collect();
    let need = |n: usize| if args.len() < n { Err(usage(verb)) } else { Ok(()) };
    Ok(match verb {
        "declare" => {
            // `--private`: only its members (and admins) will see it, e.g. a security incident.
            let private = args.first() == Some(&"--private");
            let rest = if private { rest["--private".len()..].trim_start() } else { rest };
            let args = if private { &args[1..] } else { &args[..] };
            if args.len() < 2 {
                return Err(usage(verb));
            }
            let severity: Severity = args[0].parse()?;
            let title = rest[args[0].len()..].trim().to_string();
            Parsed::Intent(Intent::DeclareIncident {
                title,
                severity,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private,
            })
        }
        "member" => {
            need(2)?;
            let (incident, person) = (incident()?, rest[args[0].len()..].trim().to_string());
            Parsed::Intent(match args[0] {
                "add" => Intent::AddMember { incident, person },
                "remove" => Intent::RemoveMember { incident, person },
                _ => return Err(usage(verb)),
            })
        }
        "note" => {
            need(1)?;
            Parsed::Intent(Intent::AddNote { incident: incident()?, text: rest.to_string() })
        }
        "status" => {
            need(1)?;
            let status: Status = args[0].parse()?;
            let reason = rest[args[0].len()..].trim();
            Parsed::Intent(Intent::SetStatus {
                incident: incident()?,
                status,
                reason: (!reason.is_empty()).then(|| reason.to_string()),
            })
        }
        "severity" => {
            need(1)?;
            Parsed::Intent(Intent::SetSeverity { incident: incident()?, severity: args[0].parse()? })
        }
        "assign" => {
            need(2)?;
            let role: Role = args[0].parse()?;
            let person = rest[args[0].len()..].trim().to_string();
            Parsed::Intent(Intent::AssignRole { incident: incident()?, role, person })
        }
        "milestone" => {
            need(1)?;
            if args.len() > 2 {
                return Err(usage(verb));
            }
            let time = match args.get(1) {
                Some(when) => milestone_time(when, now)?,
                None => now,
            };
            Parsed::Intent(Intent::SetMilestone { incident: incident()?, milestone: args[0].parse()?, time })
        }
        "tick" | "untick" => {
            need(1)?;
            let (incident, step) = (incident()?, args[0].to_string());
            Parsed::Intent(if verb == "tick" {
                Intent::TickStep { incident, step }
            } else {
                Intent::UntickStep { incident, step }
            })
        }
        "send" => {
            need(1)?;
            let text = rest[args[0].len()..].trim();
            if text.is_empty() {
                Parsed::Compose(args[0].to_string())
            } else {
                Parsed::Intent(Intent::SendMessage {
                    incident: incident()?,
                    channel: args[0].to_string(),
                    text: text.to_string(),
                    step: None,
                    status: None,
                })
            }
        }
        "snooze" => {
            need(2)?;
            let minutes =
                args[1].parse::<u32>().map_err(|_| format!("`{}` is not a number of minutes", args[1]))?;
            Parsed::Intent(Intent::SnoozeClock { incident: incident()?, audience: args[0].parse()?, minutes })
        }
        "playbook" => {
            need(1)?;
            Parsed::Intent(Intent::AttachPlaybook { incident: incident()?, playbook: args[0].to_string() })
        }
        "open" => {
            need(1)?;
            Parsed::Open(args[0].parse()?)
        }
        "chaos" => {
            need(2)?;
            let reason = rest[args[0].len()..].trim()[args[1].len()..].trim();
            Parsed::Intent(match args[0] {
                "start" if args.len() == 2 => Intent::StartScenario { scenario: args[1].to_string() },
                "stop" => Intent::StopScenario {
                    run: args[1].parse()?,
                    reason: (!reason.is_empty()).then(|| reason.to_string()),
                },
                _ => return Err(usage(verb)),
            })
        }
        "halt" => Parsed::Intent(Intent::HaltAll { reason: rest.to_string() }),
        "gameday" => Parsed::Intent(match args[0] {
            "create" => {
                // NAME… --style STYLE (or --style=STYLE), the flag anywhere after `create`.
                let words = &args[1..];
                let at = words.iter().position(|w| *w == "--style" || w.starts_with("--style="));
                let Some(at) = at else { return Err(usage(verb)) };
                let (style, skip) = match words[at].strip_prefix("--style=") {
                    Some(s) => (s, 1),
                    None => (*words.get(at + 1).ok_or_else(|| usage(verb))?, 2),
                };
                let style: Style = style.parse()?;
                let name: Vec<&str> = words[..at].iter().chain(&words[at + skip..]).copied().collect();
                if name.is_empty() {
                    return Err(usage(verb));
                }
                Intent::CreateGameday { name: name.join(" "), style }
            }
            "start" if args.len() == 1 => Intent::StartGameday { gameday: gameday()? },
            "end" if args.len() == 1 => Intent::EndGameday { gameday: gameday()? },
            "finish" if args.len() == 1 => Intent::FinishGameday { gameday: gameday()? },
            _ => return Err(usage(verb)),
        }),
        "team" => {
            need(2)?;
            let team = rest[args[0].len()..].trim().to_string();
            Parsed::Intent(match args[0] {
                "add" => Intent::AddTeam { gameday: gameday()?, team },
                "join" => Intent::JoinTeam { gameday: gameday()?, team, person: None },
                _ => return Err(usage(verb)),
            })
        }
        "plan" => {
            if args.len() != 1 {
                return Err(usage(verb));
            }
            Parsed::Intent(Intent::PlanScenario {
                gameday: gameday()?,
                scenario: args[0].to_string(),
                briefing: None,
                note: String::new(),
                par_detect_minutes: None,
                par_mitigate_minutes: None,
                weights: Default::default(),
            })
        }
        "hint" => {
            need(2)?;
            let (team, after) = split_team(rest, target.gameday);
            let (plan, text) = match after.split_once(char::is_whitespace) {
                Some((first, text)) if first.starts_with('#') => (Some(plan_number(first)?), text.trim()),
                _ if after.starts_with('#') => return Err(usage(verb)),
                _ => (None, after),
            };
            if text.is_empty() {
                return Err(usage(verb));
            }
            Parsed::Intent(Intent::GiveHint { gameday: gameday()?, team, plan, text: text.to_string() })
        }
        "confirm" => {
            need(2)?;
            let (team, after) = split_team(rest, target.gameday);
            if after.is_empty() || after.contains(char::is_whitespace) {
                return Err(usage(verb));
            }
            Parsed::Intent(Intent::ConfirmMitigation { gameday: gameday()?, team, plan: plan_number(after)? })
        }
        "as" if args.len() == 1 => Parsed::SwitchUser(args[0].to_string()),
        "as" => return Err(usage(verb)),
        "stats" if args.len() == 1 => Parsed::Stats(args[0].parse().map_err(|e| format!(":stats: {e}"))?),
        "stats" => return Err(usage(verb)),
        "postmortem" if rest == "edit" => Parsed::Action(Action::EditPostmortem),
        "postmortem" => return Err(usage(verb)),
        "action" => Parsed::Intent(action_item(&args, incident()?, verb)?),
        "actions" if rest == "--open" => Parsed::Actions { open_only: true },
        "actions" => return Err(usage(verb)),
        "filter" => Parsed::Filter(rest.to_string()),
        "theme" => {
            need(1)?;
            Parsed::Theme(args[0].to_string())
        }
        // help and quit take no arguments: a bare verb is answered above.
        _ => return Err(format!(":{verb} takes no arguments")),
    })
}

/// `:action add TITLE… @OWNER [due:YYYY-MM-DD] [link:URL]` or `:action done N` on `incident`:
/// the owner, due date and link may come anywhere after `add`, the rest is the title.
fn action_item(args: &[&str], incident: IncidentId, verb: &str) -> Result<Intent, String> {
    match args {
        ["done", n] => {
            let item = n
                .trim_start_matches('#')
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`{n}` is not an action item's number (1, 2 …)"))?;
            Ok(Intent::CompleteActionItem { incident, item })
        }
        ["add", words @ ..] => {
            let (mut title, mut owner, mut due, mut link) = (Vec::new(), None, None, None);
            for w in words {
                if let Some(o) = w.strip_prefix('@').filter(|o| !o.is_empty()) {
                    if owner.replace(o.to_string()).is_some() {
                        return Err("one owner per action item (one @NAME)".into());
                    }
                } else if let Some(d) = w.strip_prefix("due:") {
                    let date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .map_err(|_| format!("due:{d} is not a date (due:YYYY-MM-DD)"))?;
                    due = Some(date);
                } else if let Some(l) = w.strip_prefix("link:").filter(|l| !l.is_empty()) {
                    link = Some(l.to_string());
                } else {
                    title.push(*w);
                }
            }
            let owner = owner.ok_or("who owns it? name them with @NAME")?;
            if title.is_empty() {
                return Err(usage(verb));
            }
            Ok(Intent::AddActionItem { incident, title: title.join(" "), owner, due, link })
        }
        _ => Err(usage(verb)),
    }
}

/// What the command line completes words from, beyond its own verbs and names.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pools<'a> {
    pub themes: &'a [&'a str],
    /// The server's users (`GET /api/v1/library`).
    pub users: &'a [String],
    /// The server's chaos scenarios, for `:plan`.
    pub scenarios: &'a [String],
    /// The open game day's teams, and the numbers of its planned scenarios.
    pub teams: &'a [String],
    pub plans: &'a [u32],
    /// The selected incident's open action items, for `:action done`.
    pub items: &'a [u32],
}

/// Candidates for the word being typed at the end of `line`.
/// People complete from the server's users (`GET /api/v1/library`), which it checks them
/// against: a typo is caught while typing, not by a refusal.
pub fn candidates(line: &str, themes: &[&str], users: &[String]) -> Vec<String> {
    candidates_in(line, &Pools { themes, users, ..Pools::default() })
}

/// Candidates for the last word of `line`, from every pool.
pub fn candidates_in(line: &str, pools: &Pools) -> Vec<String> {
    let Pools { themes, users, .. } = *pools;
    let words: Vec<&str> = line.split_whitespace().collect();
    let typing_new_word = line.ends_with(char::is_whitespace) || line.is_empty();
    let (position, partial) =
        if typing_new_word { (words.len(), "") } else { (words.len() - 1, words[words.len() - 1]) };
    let verb = words.first().and_then(|w| verb_of(w)).map(|v| v.name);
    let numbers = || pools.plans.iter().map(|n| format!("#{n}")).collect();
    let pool: Vec<String> = if position == 0 {
        VERBS.iter().map(|v| v.name.to_string()).collect()
    } else if position >= 2 && words.get(position - 1) == Some(&"--style") {
        Style::ALL.iter().map(|s| s.to_string()).collect()
    } else if position >= 2 && verb == Some("gameday") && words.get(1) == Some(&"create") {
        vec!["--style".into()]
    } else if position == 1 && verb == Some("gameday") {
        ["create", "start", "end", "finish"].map(String::from).to_vec()
    } else if position == 1 && verb == Some("team") {
        vec!["add".into(), "join".into()]
    } else if position == 1 && verb == Some("plan") {
        pools.scenarios.to_vec()
    } else if (position == 1 && matches!(verb, Some("hint" | "confirm")))
        || (position == 2 && verb == Some("team") && words.get(1) == Some(&"join"))
    {
        pools.teams.to_vec()
    } else if position == 2 && matches!(verb, Some("hint" | "confirm")) {
        numbers()
    } else if position == 1 && verb == Some("action") {
        vec!["add".into(), "done".into()]
    } else if position == 2 && verb == Some("action") && words.get(1) == Some(&"done") {
        pools.items.iter().map(u32::to_string).collect()
    } else if position >= 2 && verb == Some("action") && partial.starts_with('@') {
        // The owner is one of the server's users, written @name.
        users.iter().map(|u| format!("@{u}")).collect()
    } else if position == 1 && verb == Some("postmortem") {
        vec!["edit".into()]
    } else if position == 1 && verb == Some("actions") {
        vec!["--open".into()]
    } else if position == 1 {
        match verb_of(words[0]).map(|v| v.name) {
            Some("declare") | Some("severity") => Severity::ALL.iter().map(|s| s.to_string()).collect(),
            Some("status") => Status::ALL.iter().map(|s| s.to_string()).collect(),
            Some("assign") => Role::ALL.iter().map(|s| s.to_string()).collect(),
            Some("milestone") => Milestone::ALL.iter().map(|s| s.to_string()).collect(),
            Some("theme") => themes.iter().map(|s| s.to_string()).collect(),
            Some("snooze") => crate::model::Audience::ALL.iter().map(|s| s.to_string()).collect(),
            Some("member") => vec!["add".into(), "remove".into()],
            Some("chaos") => vec!["start".into(), "stop".into()],
            Some("stats") => crate::model::stats::Since::PRESETS.iter().map(|s| s.to_string()).collect(),
            // The demo's server has only the demo's users: the ones `:as` can become.
            Some("as") => users.to_vec(),
            _ => Vec::new(),
        }
    } else if position == 2 && matches!(verb_of(words[0]).map(|v| v.name), Some("assign" | "member")) {
        users.to_vec()
    } else {
        Vec::new()
    };
    let lower = partial.to_ascii_lowercase();
    pool.into_iter().filter(|c| c.to_ascii_lowercase().starts_with(&lower)).collect()
}

/// Completes the last word: fully when one candidate fits, else to the common prefix.
/// Returns the new line and the candidates to show.
pub fn complete(line: &str, themes: &[&str], users: &[String]) -> (String, Vec<String>) {
    finish(line, candidates(line, themes, users))
}

/// Completes the last word from every pool (the command line's tab).
pub fn complete_in(line: &str, pools: &Pools) -> (String, Vec<String>) {
    finish(line, candidates_in(line, pools))
}

/// Completes the last word of `line` from `pool` (a form's field of names).
pub fn complete_word(line: &str, pool: &[String]) -> (String, Vec<String>) {
    let partial =
        if line.ends_with(char::is_whitespace) { "" } else { line.split_whitespace().last().unwrap_or("") };
    let lower = partial.to_lowercase();
    finish(line, pool.iter().filter(|c| c.to_lowercase().starts_with(&lower)).cloned().collect())
}

fn finish(line: &str, found: Vec<String>) -> (String, Vec<String>) {
    let keep = if line.ends_with(char::is_whitespace) || line.is_empty() {
        line
    } else {
        // After the last whitespace, whatever its width in bytes (an ideographic space too).
        let cut =
            line.char_indices().rev().find(|(_, c)| c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8());
        &line[..cut]
    };
    match found.as_slice() {
        [] => (line.to_string(), found),
        [one] => (format!("{keep}{one} "), Vec::new()),
        many => {
            let mut prefix = many[0].clone();
            for c in many {
                while !c.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()) {
                    prefix.pop();
                }
            }
            let typed = &line[keep.len()..];
            let new = if prefix.len() > typed.len() { format!("{keep}{prefix}") } else { line.to_string() };
            (new, found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-21T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn verbs_parse_against_the_selected_incident() {
        let sel = Some(IncidentId(3));
        assert_eq!(
            parse(":declare SEV2 Checkout is down", None, now()),
            Ok(Parsed::Intent(Intent::DeclareIncident {
                title: "Checkout is down".into(),
                severity: Severity::Sev2,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private: false,
            }))
        );
        assert_eq!(
            parse("status closed duplicate: of INC-1", sel, now()),
            Ok(Parsed::Intent(Intent::SetStatus {
                incident: IncidentId(3),
                status: Status::Closed,
                reason: Some("duplicate: of INC-1".into())
            }))
        );
        assert_eq!(
            parse("sev 1", sel, now()),
            Ok(Parsed::Intent(Intent::SetSeverity { incident: IncidentId(3), severity: Severity::Sev1 }))
        );
        assert_eq!(parse("q", None, now()), Ok(Parsed::Action(Action::Quit)));
        assert_eq!(parse("theme mono", None, now()), Ok(Parsed::Theme("mono".into())));
    }

    #[test]
    fn a_milestone_takes_the_time_it_was_reached_and_refuses_what_is_not_a_time() {
        let sel = Some(IncidentId(3));
        let at = |line: &str| match parse(line, sel, now()) {
            Ok(Parsed::Intent(Intent::SetMilestone { time, .. })) => Ok(time.to_rfc3339()),
            Ok(other) => panic!("{line}: {other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(at("milestone started"), Ok(now().to_rfc3339()), "no time: now");
        assert_eq!(at("milestone started 09:12"), Ok("2026-11-21T09:12:00+00:00".into()));
        assert_eq!(at("milestone started 09:12:30"), Ok("2026-11-21T09:12:30+00:00".into()));
        // Still to come today (it is 10:00): last night's.
        assert_eq!(at("milestone started 23:50"), Ok("2026-11-20T23:50:00+00:00".into()));
        assert_eq!(
            at("milestone detected 2026-11-21T08:05:00+01:00"),
            Ok("2026-11-21T07:05:00+00:00".into())
        );
        let bad = at("milestone started yesterday").unwrap_err();
        assert!(bad.contains("`yesterday` is not a time") && bad.contains("HH:MM"), "{bad}");
        assert!(at("milestone started 09:12 today").unwrap_err().starts_with("usage: :milestone"));
    }

    #[test]
    fn bare_verbs_and_action_names_are_the_keys_actions() {
        let sel = Some(IncidentId(3));
        assert_eq!(parse("note", sel, now()), Ok(Parsed::Action(Action::Note)));
        assert_eq!(parse("st", sel, now()), Ok(Parsed::Action(Action::Status)));
        assert_eq!(parse("help", None, now()), Ok(Parsed::Action(Action::Help)));
        assert_eq!(parse(":zoom", None, now()), Ok(Parsed::Action(Action::Zoom)));
        assert_eq!(parse("next_pane", None, now()), Ok(Parsed::Action(Action::NextPane)));
        assert!(parse("zoom in", None, now()).unwrap_err().contains("takes no arguments"));
        assert!(parse("quit now", None, now()).unwrap_err().contains("takes no arguments"));
        assert!(
            parse("pick", None, now()).unwrap_err().contains("unknown command"),
            "overlay keys are not verbs"
        );
    }

    #[test]
    fn chaos_verbs_name_a_scenario_or_a_run() {
        use crate::model::chaos::RunId;
        assert_eq!(parse("chaos", None, now()), Ok(Parsed::Action(Action::Chaos)));
        assert_eq!(
            parse(":chaos start price-desync", None, now()),
            Ok(Parsed::Intent(Intent::StartScenario { scenario: "price-desync".into() }))
        );
        assert_eq!(
            parse("chaos stop RUN-3 customers hurt", None, now()),
            Ok(Parsed::Intent(Intent::StopScenario { run: RunId(3), reason: Some("customers hurt".into()) }))
        );
        assert_eq!(
            parse("chaos stop 3", None, now()),
            Ok(Parsed::Intent(Intent::StopScenario { run: RunId(3), reason: None }))
        );
        assert!(parse("chaos stop RUN-x", None, now()).unwrap_err().contains("not a run id"));
        assert!(parse("chaos start a b", None, now()).unwrap_err().starts_with("usage: :chaos"));
        assert!(parse("chaos nuke it", None, now()).unwrap_err().starts_with("usage: :chaos"));
        assert_eq!(parse("halt", None, now()), Ok(Parsed::Action(Action::HaltAll)));
        assert_eq!(
            parse(":halt payments are down", None, now()),
            Ok(Parsed::Intent(Intent::HaltAll { reason: "payments are down".into() }))
        );
        assert_eq!(parse("arm", None, now()), Ok(Parsed::Action(Action::ArmChaos)));
        assert_eq!(complete("chaos st", &[], &[]).1, ["start", "stop"]);
    }

    fn gameday() -> GameDay {
        let mut g: GameDay = serde_json::from_value(serde_json::json!({
            "id": "GD-2", "name": "Autumn", "style": "fire_drill", "master": "root",
            "stage": "running", "created_at": "2026-11-21T09:00:00Z", "created_seq": 1,
            "weights": {}
        }))
        .expect("a game day");
        for team in ["red", "Blue Team"] {
            g.teams.insert(
                team.into(),
                crate::model::gameday::Team { name: team.into(), members: Default::default() },
            );
        }
        g
    }

    #[test]
    fn game_master_verbs_name_the_open_game_day_and_its_teams() {
        let g = gameday();
        let at = |line: &str| parse_in(line, Target { selected: None, gameday: Some(&g), now: now() });
        let gd = GameDayId(2);
        assert_eq!(
            at(":gameday create Autumn drill --style fire_drill"),
            Ok(Parsed::Intent(Intent::CreateGameday {
                name: "Autumn drill".into(),
                style: Style::FireDrill
            }))
        );
        assert_eq!(
            at("gameday create --style=informed Spring"),
            Ok(Parsed::Intent(Intent::CreateGameday { name: "Spring".into(), style: Style::Informed }))
        );
        assert!(at("gameday create Spring").unwrap_err().starts_with("usage: :gameday"));
        assert!(at("gameday create Spring --style chess").unwrap_err().contains("fire_drill"));
        assert_eq!(at("gameday start"), Ok(Parsed::Intent(Intent::StartGameday { gameday: gd })));
        assert_eq!(at("gd end"), Ok(Parsed::Intent(Intent::EndGameday { gameday: gd })));
        assert_eq!(at("gameday finish"), Ok(Parsed::Intent(Intent::FinishGameday { gameday: gd })));
        assert_eq!(at("gameday"), Ok(Parsed::Action(Action::Scoreboard)));
        assert_eq!(at("scoreboard"), Ok(Parsed::Action(Action::Scoreboard)));
        assert_eq!(
            at("team add Green Team"),
            Ok(Parsed::Intent(Intent::AddTeam { gameday: gd, team: "Green Team".into() }))
        );
        assert_eq!(
            at("team join red"),
            Ok(Parsed::Intent(Intent::JoinTeam { gameday: gd, team: "red".into(), person: None }))
        );
        assert!(matches!(
            at("plan price-desync"),
            Ok(Parsed::Intent(Intent::PlanScenario { gameday: GameDayId(2), ref scenario, .. })) if scenario == "price-desync"
        ));
        assert!(at("plan a b").unwrap_err().starts_with("usage: :plan"));
        // A team's name may have spaces: the longest team the line starts with, any case.
        assert_eq!(
            at("hint blue team #2 look at the search index"),
            Ok(Parsed::Intent(Intent::GiveHint {
                gameday: gd,
                team: "Blue Team".into(),
                plan: Some(2),
                text: "look at the search index".into()
            }))
        );
        assert_eq!(
            at("hint red breathe"),
            Ok(Parsed::Intent(Intent::GiveHint {
                gameday: gd,
                team: "red".into(),
                plan: None,
                text: "breathe".into()
            }))
        );
        assert!(at("hint red #2").unwrap_err().starts_with("usage: :hint"));
        assert!(at("hint red #x look").unwrap_err().contains("not a scenario number"));
        assert_eq!(
            at("confirm Blue Team #1"),
            Ok(Parsed::Intent(Intent::ConfirmMitigation { gameday: gd, team: "Blue Team".into(), plan: 1 }))
        );
        assert!(at("confirm red").unwrap_err().starts_with("usage: :confirm"));
        // Without an open game day, the verbs say how to get one.
        let err = parse("gameday start", None, now()).unwrap_err();
        assert!(err.contains(":gameday create NAME --style STYLE"), "{err}");
    }

    #[test]
    fn game_master_verbs_complete_teams_scenarios_numbers_and_styles() {
        let teams = ["red".to_string(), "blue".to_string()];
        let scenarios = ["price-desync".to_string(), "table-lock".to_string()];
        let pools = Pools { teams: &teams, scenarios: &scenarios, plans: &[1, 2], ..Pools::default() };
        assert_eq!(complete_in("gameday s", &pools).0, "gameday start ");
        assert_eq!(complete_in("gameday create Autumn --", &pools).0, "gameday create Autumn --style ");
        assert_eq!(
            complete_in("gameday create Autumn --style f", &pools).0,
            "gameday create Autumn --style fire_drill "
        );
        assert_eq!(complete_in("team j", &pools).0, "team join ");
        assert_eq!(complete_in("team join r", &pools).0, "team join red ");
        assert_eq!(complete_in("plan t", &pools).0, "plan table-lock ");
        assert_eq!(complete_in("hint b", &pools).0, "hint blue ");
        assert_eq!(complete_in("confirm red #", &pools).1, ["#1", "#2"]);
    }

    #[test]
    fn the_game_masters_verbs_are_for_admins_and_confirm_for_villains_too() {
        let verb = |name: &str| VERBS.iter().find(|v| v.name == name).expect("a verb");
        assert!(may_use(verb("gameday"), UserRole::Admin));
        assert!(!may_use(verb("gameday"), UserRole::Villain));
        assert!(may_use(verb("confirm"), UserRole::Villain));
        assert!(!may_use(verb("hint"), UserRole::Responder));
        assert!(may_use(verb("team"), UserRole::Responder), "heroes join teams");
        assert!(!may_use(verb("team"), UserRole::Observer));
        assert!(may_use(verb("note"), UserRole::Observer), "other verbs are not judged here");
    }

    #[test]
    fn as_names_a_demo_user_by_name_or_role() {
        assert_eq!(parse(":as victor", None, now()), Ok(Parsed::SwitchUser("victor".into())));
        assert_eq!(parse("as villain", None, now()), Ok(Parsed::SwitchUser("villain".into())));
        assert_eq!(parse("as", None, now()), Ok(Parsed::Action(Action::SwitchUser)));
        assert_eq!(parse("switch_user", None, now()), Ok(Parsed::Action(Action::SwitchUser)));
        assert!(parse("as victor now", None, now()).unwrap_err().starts_with("usage: :as"));
        let users = ["alice".to_string(), "victor".to_string()];
        assert_eq!(complete("as v", &[], &users).0, "as victor ");
    }

    #[test]
    fn action_items_are_added_and_completed_on_the_selected_incident() {
        let sel = Some(IncidentId(7));
        assert_eq!(
            parse(
                ":action add Alert on gateway 5xx @carol due:2026-12-01 link:https://t/ISSUE-1",
                sel,
                now()
            ),
            Ok(Parsed::Intent(Intent::AddActionItem {
                incident: IncidentId(7),
                title: "Alert on gateway 5xx".into(),
                owner: "carol".into(),
                due: chrono::NaiveDate::from_ymd_opt(2026, 12, 1),
                link: Some("https://t/ISSUE-1".into()),
            }))
        );
        assert!(matches!(
            parse("action add @bob Runbook for failover", sel, now()),
            Ok(Parsed::Intent(Intent::AddActionItem { ref title, ref owner, due: None, link: None, .. }))
                if title == "Runbook for failover" && owner == "bob"
        ));
        assert_eq!(
            parse("action done #2", sel, now()),
            Ok(Parsed::Intent(Intent::CompleteActionItem { incident: IncidentId(7), item: 2 }))
        );
        assert!(parse("action add Fix it", sel, now()).unwrap_err().contains("@NAME"));
        assert!(parse("action add Fix @a @b", sel, now()).unwrap_err().contains("one owner"));
        assert!(parse("action add Fix @a due:tomorrow", sel, now()).unwrap_err().contains("due:YYYY-MM-DD"));
        assert!(parse("action add @a", sel, now()).unwrap_err().starts_with("usage: :action"));
        assert!(parse("action done x", sel, now()).unwrap_err().contains("not an action item"));
        assert!(parse("action done 1", None, now()).unwrap_err().contains("select one first"));
        assert_eq!(parse("actions", None, now()), Ok(Parsed::Action(Action::Actions)));
        assert_eq!(parse("actions --open", None, now()), Ok(Parsed::Actions { open_only: true }));
        assert_eq!(parse("postmortem", sel, now()), Ok(Parsed::Action(Action::Postmortem)));
        assert_eq!(parse("pm edit", sel, now()), Ok(Parsed::Action(Action::EditPostmortem)));
        assert!(parse("postmortem now", sel, now()).unwrap_err().starts_with("usage: :postmortem"));
    }

    #[test]
    fn action_verbs_complete_subcommands_item_numbers_and_owners() {
        let users = ["carol".to_string(), "bob".to_string()];
        let pools = Pools { users: &users, items: &[1, 3], ..Pools::default() };
        assert_eq!(complete_in("action d", &pools).0, "action done ");
        assert_eq!(complete_in("action done ", &pools).1, ["1", "3"]);
        assert_eq!(complete_in("action add Fix alerts @c", &pools).0, "action add Fix alerts @carol ");
        assert_eq!(complete_in("actions -", &pools).0, "actions --open ");
        assert_eq!(complete_in("postmortem e", &pools).0, "postmortem edit ");
        assert_eq!(complete_in("acti", &pools).1, ["action", "actions"]);
    }

    #[test]
    fn mistakes_explain_themselves() {
        assert!(parse("note hi", None, now()).unwrap_err().contains("select one first"));
        assert!(parse("declare SEV9 x", None, now()).unwrap_err().contains("SEV1"));
        assert!(parse("declare SEV2", None, now()).unwrap_err().starts_with("usage: :declare"));
        assert!(matches!(
            parse(":declare --private SEV1 Card data exposed", None, now()),
            Ok(Parsed::Intent(Intent::DeclareIncident { private: true, ref title, .. })) if title == "Card data exposed"
        ));
        let inc = Some(IncidentId(4));
        assert_eq!(
            parse("member add carol", inc, now()),
            Ok(Parsed::Intent(Intent::AddMember { incident: IncidentId(4), person: "carol".into() }))
        );
        assert!(parse("member kick carol", inc, now()).unwrap_err().starts_with("usage: :member"));
        assert!(parse("frobnicate", None, now()).unwrap_err().contains("unknown command"));
        assert_eq!(
            parse("asign internal_liaison alice", None, now()).unwrap_err(),
            "unknown command `asign`: did you mean :assign?"
        );
        assert!(parse("assign boss bob", Some(IncidentId(1)), now())
            .unwrap_err()
            .contains("incident_commander"));
    }

    #[test]
    fn completion_fills_verbs_and_their_arguments() {
        assert_eq!(complete("dec", &[], &[]).0, "declare ");
        assert_eq!(
            complete("status mit", &[], &[]),
            ("status mitigat".to_string(), vec!["mitigating".into(), "mitigated".into()])
        );
        assert_eq!(complete("status mitigate", &[], &[]).0, "status mitigated ");
        assert_eq!(complete("theme hi", &["default", "high-contrast"], &[]).0, "theme high-contrast ");
        assert_eq!(complete("severity ", &[], &[]).1.len(), 5);
        assert_eq!(complete("note something", &[], &[]).0, "note something");
    }

    #[test]
    fn names_complete_from_the_servers_users_for_assign_and_member() {
        let users = ["alice".to_string(), "bob".to_string(), "bobby".to_string()];
        assert_eq!(complete("assign scribe al", &[], &users).0, "assign scribe alice ");
        assert_eq!(
            complete("assign scribe b", &[], &users),
            ("assign scribe bob".into(), vec!["bob".into(), "bobby".into()])
        );
        assert_eq!(complete("member a", &[], &users).0, "member add ");
        assert_eq!(complete("member add a", &[], &users).0, "member add alice ");
        // Not a person's place: nothing offered.
        assert!(complete("note al", &[], &users).1.is_empty());
        // Any whitespace splits words without cutting a character in two.
        assert_eq!(complete("assign scribe\u{3000}al", &[], &users).0, "assign scribe\u{3000}alice ");
    }
}
