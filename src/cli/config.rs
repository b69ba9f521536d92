//! Configuration from the command line: writing a commented config.toml, where things
//! live, and the console's key bindings.

use clap::Subcommand;
use color_eyre::eyre::{bail, WrapErr};

use crate::config;

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Write a commented config.toml (and the theme presets) into the config dir.
    Init {
        /// Overwrite an existing config.toml.
        #[arg(long)]
        force: bool,
    },
    /// Print where configuration and data live.
    Paths,
}

pub const CONFIG_TEMPLATE: &str = r#"# warroom console configuration (warroom config init wrote this).
# Every setting is optional; flags and environment variables win over this file.

# The shared server, and your bearer token on it (ask the server's admin).
# Environment: WARROOM_SERVER, WARROOM_TOKEN.
# server = "http://127.0.0.1:7800"
# token = "…"

# Theme: default, light, high-contrast, mono, or the name of a file in themes/ here.
# A file here named like a preset overrides that preset field by field.
# NO_COLOR in the environment selects mono unless --theme is given.
# theme = "default"
# bell = true

# Key overrides: "key" = "action" binds everywhere; "none" unbinds.
# Keys look like q, G, ?, ctrl-n, alt-x, shift-tab, enter, space, f1.
# `warroom keys` lists the actions.
[keys]
# "ctrl-n" = "note"
# "x" = "none"
"#;

pub(super) fn init(force: bool) -> color_eyre::Result<()> {
    let dir = config::config_dir();
    let path = dir.join("config.toml");
    if path.exists() && !force {
        bail!("{} exists; --force overwrites it", path.display());
    }
    std::fs::create_dir_all(dir.join("themes")).wrap_err_with(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, CONFIG_TEMPLATE).wrap_err_with(|| format!("writing {}", path.display()))?;
    out!("wrote {}", path.display());
    out!("themes: copy one of the presets (themes/*.toml in the source) to {}", dir.join("themes").display());
    Ok(())
}

pub(super) fn paths() -> color_eyre::Result<()> {
    out!("config dir  {}", config::config_dir().display());
    out!("data dir    {}", config::data_dir().display());
    Ok(())
}

pub(super) fn keys(markdown: bool) -> color_eyre::Result<()> {
    let look = crate::tui::Look::load(None)?;
    if markdown {
        out!("{}", look.keymap.markdown().trim_end());
    } else {
        for (scope, keys, action) in look.keymap.rows() {
            out!("{:<26} {:<22} {}", scope.title(), keys, action.describe());
        }
    }
    Ok(())
}
