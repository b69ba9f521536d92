//! Themes map meanings (severity, status, focus, alert…) to styles; panes ask for meanings,
//! never colours. Presets ship in `themes/`; a user file of the same name in the config dir
//! overrides a preset field by field, and a user file with a new name is a new theme.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::config::{parse_toml, ConfigError};
use crate::model::{EntryKind, Severity, Status};

pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// Every meaning a theme must define.
pub const MEANINGS: &[&str] = &[
    "text",
    "muted",
    "border",
    "focus",
    "selection",
    "title",
    "alert",
    "ok",
    "warn",
    "villain",
    "drill",
    "sev1",
    "sev2",
    "sev3",
    "sev4",
    "sev5",
    "status.declared",
    "status.investigating",
    "status.mitigating",
    "status.mitigated",
    "status.postmortem",
    "status.closed",
    "entry.declared",
    "entry.note",
    "entry.status",
    "entry.severity",
    "entry.role",
    "entry.milestone",
    "entry.playbook",
    "entry.step",
    "entry.message",
    "entry.delivered",
    "entry.failed",
    "entry.withheld",
    "entry.snoozed",
    "section",
];

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    dim: bool,
}

impl StyleSpec {
    fn to_style(&self, field: &str) -> Result<Style, String> {
        let colour = |c: &Option<String>, which: &str| -> Result<Option<Color>, String> {
            c.as_deref()
                .map(|s| Color::from_str(s).map_err(|_| format!("{field}.{which}: `{s}` is not a colour")))
                .transpose()
        };
        let mut style = Style::default();
        if let Some(fg) = colour(&self.fg, "fg")? {
            style = style.fg(fg);
        }
        if let Some(bg) = colour(&self.bg, "bg")? {
            style = style.bg(bg);
        }
        for (on, m) in [
            (self.bold, Modifier::BOLD),
            (self.italic, Modifier::ITALIC),
            (self.underline, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
            (self.dim, Modifier::DIM),
        ] {
            if on {
                style = style.add_modifier(m);
            }
        }
        Ok(style)
    }
}

type ThemeFile = BTreeMap<String, StyleSpec>;

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<&'static str, Style>,
}

impl Theme {
    fn build(name: &str, spec: &ThemeFile, path: &Path) -> Result<Theme, ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        if let Some(unknown) = spec.keys().find(|k| !MEANINGS.contains(&k.as_str())) {
            return Err(invalid(unknown, format!("unknown meaning (known: {})", MEANINGS.join(", "))));
        }
        let mut styles = BTreeMap::new();
        for m in MEANINGS {
            let s = spec.get(*m).ok_or_else(|| invalid(m, "missing".into()))?;
            styles.insert(*m, s.to_style(m).map_err(|e| invalid(m, e))?);
        }
        Ok(Theme { name: name.to_string(), styles })
    }

    pub fn get(&self, meaning: &str) -> Style {
        self.styles.get(meaning).copied().unwrap_or_default()
    }

    pub fn severity(&self, s: Severity) -> Style {
        self.get(["sev1", "sev2", "sev3", "sev4", "sev5"][s as usize])
    }

    pub fn status(&self, s: Status) -> Style {
        self.get(match s {
            Status::Declared => "status.declared",
            Status::Investigating => "status.investigating",
            Status::Mitigating => "status.mitigating",
            Status::Mitigated => "status.mitigated",
            Status::Postmortem => "status.postmortem",
            Status::Closed => "status.closed",
        })
    }

    pub fn entry(&self, k: &EntryKind) -> Style {
        self.get(match k {
            EntryKind::Declared { .. } => "entry.declared",
            EntryKind::Note { .. } => "entry.note",
            EntryKind::StatusChange { .. } => "entry.status",
            EntryKind::SeverityChange { .. } => "entry.severity",
            EntryKind::RoleChange { .. } => "entry.role",
            EntryKind::Milestone { .. } => "entry.milestone",
            EntryKind::Playbook { .. } => "entry.playbook",
            EntryKind::Step { .. } => "entry.step",
            EntryKind::Message { .. } => "entry.message",
            EntryKind::Delivery { withheld: true, .. } => "entry.withheld",
            EntryKind::Delivery { ok: true, .. } => "entry.delivered",
            EntryKind::Delivery { ok: false, .. } => "entry.failed",
            EntryKind::Snoozed { .. } => "entry.snoozed",
            EntryKind::Health { health, .. } if health.is_bad() => "alert",
            EntryKind::Health { .. } => "ok",
            EntryKind::CausedBy { .. } => "alert",
            EntryKind::Postmortem { .. } => "entry.milestone",
            EntryKind::ActionItem { .. } => "entry.step",
            EntryKind::Unreadable { .. } => "muted",
        })
    }
}

/// The glyph that carries severity even without colour.
pub fn severity_glyph(s: Severity) -> &'static str {
    ["█", "▓", "▒", "░", "·"][s as usize]
}

/// All themes: presets, overridden or extended by `*.toml` in `user_dir`.
#[derive(Debug, Clone)]
pub struct Themes {
    themes: BTreeMap<String, Theme>,
}

impl Themes {
    pub fn presets() -> Themes {
        Themes::load(None).expect("shipped themes are valid")
    }

    pub fn load(user_dir: Option<&Path>) -> Result<Themes, ConfigError> {
        let mut specs: BTreeMap<String, (ThemeFile, std::path::PathBuf)> = BTreeMap::new();
        for (name, text) in PRESETS {
            let path = Path::new("themes").join(format!("{name}.toml"));
            specs.insert(name.to_string(), (parse_toml(&path, text)?, path));
        }
        if let Some(dir) = user_dir {
            let mut entries: Vec<_> =
                std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
            entries.sort();
            for path in entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "toml")) {
                let name = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                let user: ThemeFile = parse_toml(&path, &text)?;
                // A new theme starts from the default, so it may define only what differs.
                let mut merged = specs
                    .get(&name)
                    .or_else(|| specs.get("default"))
                    .map(|(s, _)| s.clone())
                    .unwrap_or_default();
                merged.extend(user);
                specs.insert(name, (merged, path));
            }
        }
        let mut themes = BTreeMap::new();
        for (name, (spec, path)) in specs {
            themes.insert(name.clone(), Theme::build(&name, &spec, &path)?);
        }
        Ok(Themes { themes })
    }

    pub fn get(&self, name: &str) -> Option<&Theme> {
        self.themes.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.themes.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_defines_every_meaning() {
        let t = Themes::presets();
        assert_eq!(t.names(), ["default", "high-contrast", "light", "mono"]);
        let mono = t.get("mono").unwrap();
        assert_eq!(mono.severity(Severity::Sev1).fg, None, "mono uses no colour");
        assert!(mono.severity(Severity::Sev1).add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn a_user_file_overrides_one_field_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("default.toml"), "sev1 = { fg = \"#00ff00\" }\n").unwrap();
        std::fs::write(dir.path().join("night.toml"), "text = { fg = \"gray\" }\n").unwrap();
        let t = Themes::load(Some(dir.path())).unwrap();
        let d = t.get("default").unwrap();
        assert_eq!(d.severity(Severity::Sev1).fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(d.get("focus"), Themes::presets().get("default").unwrap().get("focus"));
        assert_eq!(t.get("night").unwrap().get("text").fg, Some(Color::Gray));
    }

    #[test]
    fn a_bad_theme_names_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.toml"), "sev1 = { fg = \"blurple\" }\n").unwrap();
        let msg = Themes::load(Some(dir.path())).unwrap_err().to_string();
        assert!(msg.contains("x.toml") && msg.contains("sev1.fg") && msg.contains("blurple"), "{msg}");
        std::fs::write(dir.path().join("x.toml"), "sev9 = {}\n").unwrap();
        let msg = Themes::load(Some(dir.path())).unwrap_err().to_string();
        assert!(msg.contains("sev9: unknown meaning"), "{msg}");
    }
}
