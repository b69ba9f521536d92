//! A three-way merge of lines (diff3) for the postmortem editor: your text and a newer revision,
//! both grown from the revision you opened. What one side changed is taken; clashes are marked.

/// Opens a clash: your lines follow, then [`SPLIT`], their lines, then the closing marker.
pub const YOURS: &str = "<<<<<<< yours";
pub const SPLIT: &str = "=======";
/// The closing marker starts with this, then names the revision: `>>>>>>> revision 2 (bob)`.
pub const THEIRS: &str = ">>>>>>>";

/// Lines past which the matching table would cost too much memory (a postmortem is a few
/// hundred lines; this is 4 million cells): the middle is then taken as changed whole.
const MAX_CELLS: usize = 4_000_000;

/// What a merge produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    /// The 0-based line of each clash's opening marker, first to last.
    pub conflicts: Vec<usize>,
}

/// Merges `ours` and `theirs`, both edits of `base`. Lines only one side changed are taken
/// from it; both sides adding lines at the same place keeps both (yours first: nothing
/// written is lost); both changing the same lines differently is a clash, marked like git's.
pub fn merge(base: &str, ours: &str, theirs: &str, theirs_label: &str) -> Merged {
    let (b, o, t): (Vec<&str>, Vec<&str>, Vec<&str>) =
        (base.lines().collect(), ours.lines().collect(), theirs.lines().collect());
    let to_ours = matching(&b, &o);
    let to_theirs = matching(&b, &t);
    let mut out: Vec<&str> = Vec::new();
    let mut conflicts = Vec::new();
    let closing = format!("{THEIRS} {theirs_label}");
    let (mut bi, mut oi, mut ti) = (0, 0, 0);
    loop {
        // The next base line both sides kept: everything before it is one chunk to settle.
        let anchor = (bi..b.len()).find_map(|i| Some((i, to_ours[i]?, to_theirs[i]?)));
        let (bn, on, tn) = anchor.unwrap_or((b.len(), o.len(), t.len()));
        let (bc, oc, tc) = (&b[bi..bn], &o[oi..on], &t[ti..tn]);
        if oc == tc || tc == bc {
            out.extend_from_slice(oc);
        } else if oc == bc {
            out.extend_from_slice(tc);
        } else if bc.is_empty() {
            out.extend_from_slice(oc);
            out.extend_from_slice(tc);
        } else {
            conflicts.push(out.len());
            out.push(YOURS);
            out.extend_from_slice(oc);
            out.push(SPLIT);
            out.extend_from_slice(tc);
            out.push(&closing);
        }
        let Some((bn, on, tn)) = anchor else { break };
        out.push(b[bn]);
        (bi, oi, ti) = (bn + 1, on + 1, tn + 1);
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    Merged { text, conflicts }
}

/// The first line of `text` that is a clash marker left in, 0-based.
pub fn marker_line(text: &str) -> Option<usize> {
    text.lines().position(|l| l == YOURS || l == SPLIT || l.starts_with(&format!("{THEIRS} ")))
}

/// How many lines differ between `a` and `b`: a line changed counts once, like a line added
/// or removed (the larger of what one has and the other lacks).
pub fn changed_lines(a: &str, b: &str) -> usize {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let kept = matching(&a, &b).iter().flatten().count();
    (a.len() - kept).max(b.len() - kept)
}

/// For each line of `a`, the line of `b` it is matched with in a longest common subsequence.
fn matching(a: &[&str], b: &[&str]) -> Vec<Option<usize>> {
    let mut out = vec![None; a.len()];
    // The same lines at both ends need no table: most edits touch a few lines in the middle.
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    for (i, slot) in out.iter_mut().enumerate().take(head) {
        *slot = Some(i);
    }
    for k in 0..tail {
        out[a.len() - 1 - k] = Some(b.len() - 1 - k);
    }
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let (n, m) = (am.len(), bm.len());
    if n == 0 || m == 0 || (n + 1).saturating_mul(m + 1) > MAX_CELLS {
        return out;
    }
    // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..].
    let w = m + 1;
    let mut lcs = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * w + j] = if am[i] == bm[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if am[i] == bm[j] {
            out[head + i] = Some(head + j);
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * w + j] >= lcs[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "## Summary\nPayments failed.\n\n## What went well\n- paging worked\n";

    #[test]
    fn edits_in_different_places_merge_without_a_clash() {
        let ours = BASE.replace("Payments failed.", "Payments failed for 12 minutes.");
        let theirs = format!("{BASE}- the rollback was quick\n");
        let m = merge(BASE, &ours, &theirs, "revision 2 (bob)");
        assert_eq!(
            m.text,
            "## Summary\nPayments failed for 12 minutes.\n\n## What went well\n- paging worked\n- the rollback was quick\n"
        );
        assert!(m.conflicts.is_empty());
        assert_eq!(marker_line(&m.text), None);
    }

    #[test]
    fn the_same_edit_on_both_sides_is_taken_once_and_additions_at_one_place_are_both_kept() {
        let ours = format!("{BASE}- alerts fired\n");
        assert_eq!(merge(BASE, &ours, &ours, "r2").text, ours);
        let theirs = format!("{BASE}- the rollback was quick\n");
        let m = merge(BASE, &ours, &theirs, "r2");
        assert!(m.text.ends_with("- alerts fired\n- the rollback was quick\n"), "{}", m.text);
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn one_line_changed_two_ways_is_marked_with_both_sides() {
        let ours = BASE.replace("Payments failed.", "Card payments failed.");
        let theirs = BASE.replace("Payments failed.", "Payments failed at the PSP.");
        let m = merge(BASE, &ours, &theirs, "revision 2 (bob)");
        let lines: Vec<&str> = m.text.lines().collect();
        assert_eq!(m.conflicts, [1]);
        assert_eq!(
            &lines[1..6],
            [
                YOURS,
                "Card payments failed.",
                SPLIT,
                "Payments failed at the PSP.",
                ">>>>>>> revision 2 (bob)"
            ]
        );
        assert_eq!(marker_line(&m.text), Some(1));
        assert_eq!(lines[6..], ["", "## What went well", "- paging worked"]);
    }

    #[test]
    fn a_side_that_deleted_lines_the_other_kept_wins() {
        let theirs = BASE.replace("- paging worked\n", "");
        let m = merge(BASE, BASE, &theirs, "r2");
        assert_eq!(m.text, theirs);
        assert_eq!(merge("", "", "", "r2").text, "");
    }

    #[test]
    fn changed_lines_count_a_changed_line_once() {
        assert_eq!(changed_lines(BASE, BASE), 0);
        assert_eq!(changed_lines(BASE, &BASE.replace("Payments failed.", "Card payments failed.")), 1);
        assert_eq!(changed_lines(BASE, &format!("{BASE}- a\n- b\n")), 2);
        assert_eq!(changed_lines(BASE, ""), 5);
    }
}
