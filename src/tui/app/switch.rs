//! The demo's user switch: whose console this is, among the demo's users (names and roles,
//! never tokens). Only the demo fills it; the runner starts a fresh console as the new user.

use super::{App, Effect, Level};
use crate::model::UserRole;
use crate::present::one_line;

/// The users the demo's console may become, and who it is now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Switch {
    pub users: Vec<(String, UserRole)>,
    /// Who this console is: an index into `users`.
    pub current: usize,
    /// Who it was before the last switch: where `U` goes back to from the villain.
    pub previous: Option<usize>,
}

impl Switch {
    /// Where `U` goes: to the villain (breaking the shop is what a newcomer tries first),
    /// and from the villain back to whoever came, else to the commander.
    pub fn target(&self) -> Option<usize> {
        let role_of = |i: usize| self.users.get(i).map(|(_, r)| *r);
        let first = |role: UserRole| self.users.iter().position(|(_, r)| *r == role);
        let to = if role_of(self.current) == Some(UserRole::Villain) {
            self.previous
                .filter(|p| *p != self.current && *p < self.users.len())
                .or_else(|| first(UserRole::Commander))
        } else {
            first(UserRole::Villain)
        };
        to.or_else(|| (self.users.len() > 1).then(|| (self.current + 1) % self.users.len()))
    }

    /// A user named by name, else by role (its serde spelling: `villain`): the first of it.
    pub fn find(&self, who: &str) -> Result<usize, String> {
        find_user(&self.users, who)
    }

    /// `victor (villain)`.
    pub fn label(&self, i: usize) -> Option<String> {
        self.users.get(i).map(|(name, role)| format!("{} ({role})", one_line(name)))
    }
}

/// Finds a user by name, else by role; the error lists who there is. Shared with
/// `warroom demo --as`, so the flag and `:as` accept the same words.
pub fn find_user(users: &[(String, UserRole)], who: &str) -> Result<usize, String> {
    let by_name = users.iter().position(|(name, _)| name == who);
    let by_role = || {
        let role: UserRole = who.parse().ok()?;
        users.iter().position(|(_, r)| *r == role)
    };
    by_name.or_else(by_role).ok_or_else(|| {
        let have: Vec<String> = users.iter().map(|(n, r)| format!("{} ({r})", one_line(n))).collect();
        format!("no demo user or role `{}` (have: {})", one_line(who), have.join(", "))
    })
}

impl App {
    /// The hint for `U`: who it switches to (`victor (villain)`); none outside the demo.
    pub fn switch_hint(&self) -> Option<String> {
        let sw = self.switch.as_ref()?;
        sw.label(sw.target()?)
    }

    /// `U` (`who` is None) or `:as WHO`: asks the runner to become that user. Outside the
    /// demo there is no other token to become, and the console says so.
    pub(super) fn switch_user(&mut self, who: Option<&str>) -> Vec<Effect> {
        let Some(sw) = &self.switch else {
            self.flash(
                Level::Warn,
                "switching users is for `warroom demo`: this console signs in with its own token (WARROOM_TOKEN)",
            );
            return vec![];
        };
        let to = match who {
            Some(who) => sw.find(who),
            None => sw.target().ok_or_else(|| "the demo has no other user".to_string()),
        };
        let (i, label) = match to {
            Ok(i) => (i, sw.label(i).unwrap_or_default()),
            Err(why) => {
                self.flash(Level::Error, why);
                return vec![];
            }
        };
        if i == sw.current {
            self.flash(Level::Info, format!("this console is already {label}"));
            return vec![];
        }
        let name = sw.users[i].0.clone();
        let text = match self.queued {
            0 => format!("switching to {label}…"),
            n => format!("switching to {label}… ({n} queued command(s) wait for this user's return)"),
        };
        self.flash(Level::Info, text);
        vec![Effect::SwitchUser(name)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Switch {
        let users = [
            ("alice", UserRole::Commander),
            ("bob", UserRole::Responder),
            ("victor", UserRole::Villain),
            ("root", UserRole::Admin),
        ];
        Switch { users: users.iter().map(|(n, r)| (n.to_string(), *r)).collect(), current: 0, previous: None }
    }

    #[test]
    fn u_goes_to_the_villain_and_back_to_whoever_came() {
        let mut sw = demo();
        assert_eq!(sw.target(), Some(2));
        sw.current = 1;
        assert_eq!(sw.target(), Some(2), "from a responder too");
        sw = Switch { current: 2, previous: Some(1), ..sw };
        assert_eq!(sw.target(), Some(1), "back to who came");
        sw.previous = None;
        assert_eq!(sw.target(), Some(0), "else to the commander");
        assert_eq!(sw.label(2).as_deref(), Some("victor (villain)"));
    }

    fn console(switch: Option<Switch>) -> App {
        use crate::tui::theme::Themes;
        let themes = Themes::presets();
        let theme = themes.get("default").cloned().expect("the default theme ships");
        let now = "2026-11-21T10:00:00Z".parse().expect("a time");
        let mut app = App::new("http://127.0.0.1:7800", Default::default(), themes, theme, now);
        app.update(super::super::Msg::Resize(160, 40));
        app.update(super::super::Msg::Me(crate::protocol::Whoami {
            name: "alice".into(),
            role: UserRole::Commander,
        }));
        app.switch = switch;
        app
    }

    fn press(app: &mut App, c: char) -> Vec<Effect> {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        app.update(super::super::Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
    }

    fn command(app: &mut App, line: &str) -> Vec<Effect> {
        press(app, ':');
        line.chars().for_each(|c| {
            press(app, c);
        });
        app.update(super::super::Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        )))
    }

    fn screen(app: &mut App) -> String {
        app.prepare();
        let mut term =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(app.size.width, app.size.height))
                .expect("a test terminal");
        term.draw(|f| crate::tui::view::draw(f, app)).expect("a frame");
        let buf = term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn in_the_demo_u_and_as_ask_for_another_user_and_the_hint_names_who() {
        let mut app = console(Some(demo()));
        assert!(screen(&mut app).contains("U switch user: victor (villain)"));
        assert_eq!(press(&mut app, 'U'), [Effect::SwitchUser("victor".into())]);
        assert_eq!(command(&mut app, "as bob"), [Effect::SwitchUser("bob".into())]);
        assert_eq!(command(&mut app, "as admin"), [Effect::SwitchUser("root".into())]);
        assert!(command(&mut app, "as alice").is_empty(), "already alice");
        assert!(app.flash.as_ref().is_some_and(|f| f.text.contains("already alice (commander)")));
        assert!(command(&mut app, "as mallory").is_empty());
        assert!(app.flash.as_ref().is_some_and(|f| f.level == Level::Error && f.text.contains("mallory")));
        // Typed into an overlay, U is text, not a switch.
        press(&mut app, ':');
        assert!(press(&mut app, 'U').is_empty());
        assert!(app.overlay.is_some());
    }

    #[test]
    fn a_normal_console_never_offers_a_switch() {
        let mut app = console(None);
        let shown = screen(&mut app);
        assert!(!shown.contains("switch user"), "{shown}");
        assert!(press(&mut app, 'U').is_empty());
        assert!(app.flash.as_ref().is_some_and(|f| f.text.contains("`warroom demo`")));
        assert!(command(&mut app, "as victor").is_empty());
        let help: String = crate::tui::panes::overlay::help_lines(&app)
            .iter()
            .flat_map(|l| l.spans.iter().map(|s| s.content.to_string()))
            .collect();
        assert!(!help.contains("demo user") && !help.contains(":as USER"), "{help}");
    }

    #[test]
    fn users_are_found_by_name_or_role() {
        let sw = demo();
        assert_eq!(sw.find("victor"), Ok(2));
        assert_eq!(sw.find("villain"), Ok(2));
        assert_eq!(sw.find("admin"), Ok(3));
        let err = sw.find("mallory").unwrap_err();
        assert!(err.contains("no demo user or role `mallory`"), "{err}");
        assert!(err.contains("victor (villain)"), "the error lists who there is: {err}");
        assert!(sw.find("observer").is_err(), "a role nobody has");
    }

    #[test]
    fn in_the_demo_q_asks_once_before_it_stops_the_server_for_everyone() {
        let quits = |effects: &[Effect]| effects.iter().any(|e| matches!(e, Effect::Quit));
        let mut app = console(Some(demo()));
        assert!(!quits(&press(&mut app, 'q')), "a stray q does not stop the room");
        let flash = app.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default();
        assert!(flash.contains("q again quits the demo") && flash.contains("every console"), "{flash}");
        assert!(quits(&press(&mut app, 'q')), "asked again at once, it quits");
        // Anything in between disarms it.
        let mut app = console(Some(demo()));
        press(&mut app, 'q');
        press(&mut app, 'j');
        assert!(!quits(&press(&mut app, 'q')));
        // Any other console quits at once: its server is elsewhere, its outbox on disk.
        assert!(quits(&press(&mut console(None), 'q')));
    }
}
