//! Dependencies point one way (`model` ← `protocol` ← `server`, `client` ← `tui`): this reads
//! the source, comments and strings left out, and names every file and line that reaches back.

use std::path::{Path, PathBuf};

/// Which files may not name which paths. A path is `crate::x` (also inside `use crate::{..}`)
/// or a crate's name used as a path root (`tokio::`).
struct Rule {
    files: &'static str,
    modules: &'static [&'static str],
    crates: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        files: "src/model",
        modules: &["server", "client", "tui", "protocol", "config", "cli", "bench", "demo"],
        crates: &["tokio", "axum", "reqwest", "ratatui", "rusqlite", "crossterm", "lettre"],
    },
    Rule { files: "src/protocol.rs", modules: &["server", "client", "tui", "cli"], crates: &[] },
    Rule { files: "src/present.rs", modules: &["server", "client", "tui", "cli"], crates: &[] },
    Rule { files: "src/config.rs", modules: &["server", "client", "tui", "cli"], crates: &[] },
    Rule { files: "src/client", modules: &["server", "tui", "cli"], crates: &[] },
    Rule { files: "src/tui", modules: &["server", "cli"], crates: &[] },
    Rule { files: "src/server", modules: &["client", "tui", "cli"], crates: &[] },
];

/// The source with comments, string and char literals blanked to spaces (newlines kept, so
/// line numbers still hold): a doc comment may mention `crate::server`, code may not.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            // Rust block comments nest.
            let mut depth = 0usize;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&c, i) {
            // Raw string: r"…", r#"…"#, with as many #s as opened it.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() {
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.extend(c[i..j.min(c.len())].iter().map(|&ch| blank(ch)));
            i = j;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(c.len());
            out.extend(c[i..end].iter().map(|&ch| blank(ch)));
            i = end;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{1b}', '"') or a lifetime ('a): only the former is blanked.
            let end = if next == Some('\\') {
                (i + 2..c.len()).find(|&j| c[j] == '\'').map(|j| j + 1)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.extend(c[i..end].iter().map(|&ch| blank(ch)));
                    i = end;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// The paths `code` names that `rule` forbids.
fn offences(code: &str, rule: &Rule) -> Vec<String> {
    let code = squeeze(code);
    let mut found = Vec::new();
    for m in rule.modules {
        let path = format!("crate::{m}");
        if has_path(&code, &path) || group_names(&code).iter().any(|g| g == m) {
            found.push(path);
        }
    }
    for k in rule.crates {
        if has_path(&code, &format!("{k}::")) || has_path(&code, &format!("use {k}")) {
            found.push(k.to_string());
        }
    }
    found
}

/// Whitespace dropped except one space between two words, so `crate :: server` and
/// `crate::{\n    server}` read like `crate::server` and `crate::{server}`.
fn squeeze(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut pending_space = false;
    for ch in code.chars() {
        if ch.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && is_ident(ch) && out.chars().next_back().is_some_and(is_ident) {
            out.push(' ');
        }
        pending_space = false;
        out.push(ch);
    }
    out
}

/// `needle` as a whole path: not the tail of a longer name, nor the head of one.
fn has_path(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !before.is_some_and(is_ident) && (needle.ends_with("::") || !after.is_some_and(is_ident))
    })
}

/// The first segment of each item of every `crate::{a, b::c, d as e, …}` group.
fn group_names(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::{") {
        let mut depth = 1;
        let mut item = String::new();
        let mut in_first = true;
        for ch in code[at + "crate::{".len()..].chars() {
            match ch {
                '{' => {
                    depth += 1;
                    in_first = false;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => {
                    names.push(std::mem::take(&mut item));
                    in_first = true;
                }
                c if depth == 1 && in_first && is_ident(c) => item.push(c),
                _ if depth == 1 => in_first = false,
                _ => {}
            }
        }
        names.push(item);
    }
    names
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    if root.is_file() {
        return vec![root.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_layer_depends_only_on_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = Vec::new();
    for rule in RULES {
        let files = rust_files(&root.join(rule.files));
        assert!(!files.is_empty(), "no Rust files under {}", rule.files);
        for file in files {
            let src =
                std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            let code = code_only(&src);
            let name = file.strip_prefix(root).unwrap_or(&file).display().to_string();
            let mut seen = Vec::new();
            for (n, line) in code.lines().enumerate() {
                for path in offences(line, rule) {
                    wrong.push(format!("{name}:{}: {path}", n + 1));
                    seen.push(path);
                }
            }
            // A `use crate::{..}` spread over several lines is only seen whole.
            for path in offences(&code, rule) {
                if !seen.contains(&path) {
                    wrong.push(format!("{name}: {path} (in a statement spread over lines)"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken (see ARCHITECTURE.md, Layout):\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_code_and_not_comments_or_strings() {
    let rule = &RULES[0];
    let bad = |src: &str| offences(&code_only(src), rule);
    assert_eq!(bad("use crate::server::probes::Spec;"), ["crate::server"]);
    assert_eq!(bad("let v: Vec<crate :: server::X> = x;"), ["crate::server"]);
    assert_eq!(bad("use crate::{model::State,\n    server::App};"), ["crate::server"]);
    assert_eq!(bad("use crate::{server, model};"), ["crate::server"]);
    assert_eq!(bad("use tokio::sync::broadcast;"), ["tokio"]);
    assert_eq!(bad("#[tokio::test]"), ["tokio"]);
    assert_eq!(bad("use tokio;"), ["tokio"]);
    assert!(bad("//! see `crate::server::probes` for the runner").is_empty());
    assert!(bad("/* crate::server /* nested */ tokio:: */ let x = 1;").is_empty());
    assert!(bad(r#"let s = "crate::server and tokio::spawn";"#).is_empty());
    assert!(bad(r##"let s = r#"crate::server "quoted" tokio::"#;"##).is_empty());
    assert!(bad("let q = '\"'; let l: &'static str = \"crate::tui\";").is_empty());
    assert!(bad("use crate::serverless::X; use my_tokio::Y;").is_empty());
    assert!(bad("use crate::{model::server_name, protocol_x};").is_empty());
    assert_eq!(bad("use crate::{model::{State, Event}, client as c};"), ["crate::client"]);
}
