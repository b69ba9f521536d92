//! Documents rendered from the log for people to read and share (postmortems), and the
//! Markdown escaping that keeps other people's text from forging their structure.

pub mod postmortem;

/// Whether `c` is dropped from Markdown output: control characters (escape sequences, bells,
/// carriage returns) and the bidi overrides and isolates that make text read in another order
/// than it was written. Newlines and tabs are handled by the callers.
fn is_dropped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Escapes the characters that could change a line's structure wherever they stand: `\`
/// (so a typed `\|` cannot undo the next escape), `|` (table cells), `<` (raw HTML, and
/// comments that would hide what follows), `` ` `` (a code span or fence swallowing the
/// table delimiters after it) and `[` (links, images and link reference definitions: a
/// `[x]: url` line is hidden by every CommonMark viewer, an image loads a remote pixel, a
/// link can carry `javascript:`; URLs still show as text).
fn escape_chars(line: &str, out: &mut String) {
    for c in line.chars() {
        match c {
            '\\' | '|' | '<' | '`' | '[' => {
                out.push('\\');
                out.push(c);
            }
            c if is_dropped(c) => {}
            c => out.push(c),
        }
    }
}

/// What a line must not start with, escaped: a heading (`#`), a quote (`>`), a fence (`~~~`),
/// or a setext underline / thematic break (a line of only `=`, `-`, `*` or `_`), which would
/// turn the line above it into a heading.
fn neutralise_start(line: String) -> String {
    let body = line.trim_start();
    let indent = line.len() - body.len();
    let Some(first) = body.chars().next() else { return line };
    let rule =
        matches!(first, '=' | '-' | '*' | '_') && body.chars().all(|c| c == first || c == ' ' || c == '\t');
    if matches!(first, '#' | '>' | '~') || rule {
        format!("{}\\{}", &line[..indent], &line[indent..])
    } else {
        line
    }
}

/// One line of other people's text made safe anywhere in a Markdown line, a list item or a
/// table cell: control characters removed, line breaks and tabs folded into spaces, `|` and
/// the other structural characters escaped, a leading `#` or `>` neutralised.
pub fn inline(text: &str) -> String {
    let folded: String = text.chars().map(|c| if matches!(c, '\n' | '\t') { ' ' } else { c }).collect();
    let mut out = String::with_capacity(folded.len() + 8);
    escape_chars(folded.trim(), &mut out);
    neutralise_list(neutralise_start(out))
}

/// A leading list marker (`- `, `+ `, `* `, `1. `, `1) `) escaped: inline text is put in list
/// items and cells, where it would open a nested list.
fn neutralise_list(line: String) -> String {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = &line[digits..];
    let ordered = digits > 0 && digits < 10 && (rest.starts_with(". ") || rest.starts_with(") "));
    let bullet = digits == 0 && (line.starts_with("- ") || line.starts_with("+ ") || line.starts_with("* "));
    if ordered {
        format!("{}\\{}", &line[..digits], rest)
    } else if bullet {
        format!("\\{line}")
    } else {
        line
    }
}

/// Several lines of other people's text (a summary, the factors) as Markdown paragraphs: each
/// line escaped like [`inline`] and kept on its own line, so lists and blank lines written
/// by the team read as written, but no line can become a heading, a table, a quote or a fence.
pub fn block(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.trim().lines() {
        let mut line = String::with_capacity(raw.len() + 8);
        escape_chars(&raw.replace('\t', "    "), &mut line);
        lines.push(neutralise_start(line.trim_end().to_string()));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_cannot_forge_a_heading_a_table_a_fence_or_html() {
        assert_eq!(inline("# Root cause: nobody"), "\\# Root cause: nobody");
        assert_eq!(inline("a | b\n## c"), "a \\| b ## c");
        assert_eq!(inline("\u{1b}[31mred\u{7}\r"), "\\[31mred");
        assert_eq!(inline("a\\|b"), "a\\\\\\|b", "a typed escape cannot undo ours");
        assert_eq!(inline("<!-- hide"), "\\<!-- hide");
        assert_eq!(inline("  > quoted"), "\\> quoted");
        assert_eq!(inline("\u{202E}evil"), "evil");
        let forged = block("fine\n# Heading\n| a | b |\n|---|---|\n```\n~~~\n---\nok > fine\n- a list stays");
        assert_eq!(
            forged,
            "fine\n\\# Heading\n\\| a \\| b \\|\n\\|---\\|---\\|\n\\`\\`\\`\n\\~~~\n\\---\nok > fine\n- a list stays"
        );
        assert_eq!(block("para one\n\n  para two  \n"), "para one\n\n  para two");
        assert_eq!(inline("[hidden]: http://evil.example"), "\\[hidden]: http://evil.example");
        assert_eq!(
            inline("![p](https://e/p.png) [c](javascript:x)"),
            "!\\[p](https://e/p.png) \\[c](javascript:x)"
        );
        assert_eq!(inline("- nested"), "\\- nested");
        assert_eq!(inline("12. nested"), "12\\. nested");
        assert_eq!(inline("2026 was fine"), "2026 was fine");
        assert_eq!(inline(""), "");
        assert_eq!(block(""), "");
    }
}
