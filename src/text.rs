//! Outside strings are data, never terminal commands.
//!
//! Everything sslwatch reads from disk (run directory names, file paths,
//! `run.json` fields, npz array names, step names, and error text quoting
//! any of these) goes through [`sanitize`] before it reaches a TUI cell, a
//! table or Markdown line, or a message on stderr. A directory named
//! `\x1b]2;pwned\x07` would otherwise retitle the terminal, `\x1b]52;...`
//! write the clipboard, a C1 `\u{9b}` start a CSI sequence on terminals that
//! honour 8-bit controls, and U+202E reverse the rest of the line.
//!
//! Widths are counted per grapheme (what a terminal cell holds), so an emoji
//! ZWJ sequence (`👩‍🔬`, width 2) or CJK (`実験`, width 4) in a run name
//! does not shift table columns; [`pad_end`], [`pad_start`], [`truncate_end`]
//! and [`truncate_start`] cut and pad by that width and never split a
//! grapheme.
//!
//! CSV and JSON output escape by their own rules and must not go through
//! here: they keep the exact names.
//!
//! [`file_component`] reduces a name (an npz array name) to one safe path
//! component, for names that become file names.

use std::borrow::Cow;
use std::fmt::Write as _;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Whether `c` must not reach a terminal as itself: C0 controls (ESC, BEL,
/// CR, LF, TAB, ...), DEL, C1 controls (U+0080-U+009F, e.g. the 8-bit CSI
/// U+009B), the bidirectional formatting controls (embeddings, overrides,
/// isolates, marks) and the Unicode line/paragraph separators.
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `s` with every [`needs_escape`] character replaced by a visible escape:
/// `\x1b` for C0 controls and DEL, `\u{9b}` for C1 and the others
/// (`\u{202e}`). Text without such characters is returned as it is, without
/// a copy. The result never changes the terminal's state.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

/// [`sanitize`] of anything displayable (a path's `display()`, an error).
pub fn sanitize_display(value: impl std::fmt::Display) -> String {
    let text = value.to_string();
    match sanitize(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => clean,
    }
}

/// Display width of `s` in terminal columns, grapheme by grapheme (as a
/// terminal and ratatui's buffer lay it out). Meant for sanitised text.
pub fn width(s: &str) -> usize {
    if s.is_ascii() {
        // Printable ASCII is one column a byte (sanitised text has no controls).
        return s.len();
    }
    s.graphemes(true).map(UnicodeWidthStr::width).sum()
}

/// `s` followed by spaces up to `w` columns (left-aligned); unchanged when
/// it is already as wide.
pub fn pad_end(s: &str, w: usize) -> String {
    let mut out = String::from(s);
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

/// Spaces then `s`, `w` columns in all (right-aligned); unchanged when it
/// is already as wide.
pub fn pad_start(s: &str, w: usize) -> String {
    let mut out: String = std::iter::repeat_n(' ', w.saturating_sub(width(s))).collect();
    out.push_str(s);
    out
}

/// `s` cut to at most `w` columns, whole graphemes only, ending with
/// `ellipsis` when cut (left out when even it does not fit).
pub fn truncate_end<'a>(s: &'a str, w: usize, ellipsis: &str) -> Cow<'a, str> {
    if width(s) <= w {
        return Cow::Borrowed(s);
    }
    let ew = width(ellipsis);
    let keep = w.saturating_sub(ew);
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let gw = g.width();
        if used + gw > keep {
            break;
        }
        used += gw;
        out.push_str(g);
    }
    if w >= ew {
        out.push_str(ellipsis);
    }
    Cow::Owned(out)
}

/// `s` cut to at most `w` columns keeping its end, whole graphemes only,
/// starting with `ellipsis` when cut (empty when even it does not fit).
pub fn truncate_start<'a>(s: &'a str, w: usize, ellipsis: &str) -> Cow<'a, str> {
    if width(s) <= w {
        return Cow::Borrowed(s);
    }
    let ew = width(ellipsis);
    if w < ew {
        return Cow::Owned(String::new());
    }
    let keep = w - ew;
    let mut used = 0;
    let mut start = s.len();
    for (i, g) in s.grapheme_indices(true).rev() {
        let gw = g.width();
        if used + gw > keep {
            break;
        }
        used += gw;
        start = i;
    }
    Cow::Owned(format!("{ellipsis}{}", &s[start..]))
}

/// Longest file name component [`file_component`] returns, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 100;

/// `name` reduced to one safe path component, or None when nothing usable
/// is left. Path separators (`/`, `\`), NUL and every [`needs_escape`]
/// character become `_`; leading dots are dropped (no `.`, `..` or hidden
/// files); the result is cut to [`MAX_COMPONENT_BYTES`] on a character
/// boundary. A name left empty, or made of nothing but `_` replacements,
/// gives None.
pub fn file_component(name: &str) -> Option<String> {
    let replaced: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || needs_escape(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = replaced.trim_start_matches('.');
    let mut end = trimmed.len().min(MAX_COMPONENT_BYTES);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    let out = &trimmed[..end];
    let meaningful = out.chars().any(|c| c != '_' && c != '.');
    meaningful.then(|| out.to_string())
}

/// Whether `digits` (a formatted magnitude) is all zeros.
fn is_zero(digits: &str) -> bool {
    digits.chars().all(|c| c == '0' || c == '.')
}

/// `v` with `digits` decimals, never `-0.00`: a value that rounds to zero
/// prints without a sign.
pub fn fixed(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    match s.strip_prefix('-') {
        Some(rest) if is_zero(rest) => rest.to_string(),
        _ => s,
    }
}

/// `v` with a sign and `digits` decimals (`+0.83`); a value that rounds to
/// zero is `+0.00`, never `-0.00`.
pub fn signed(v: f64, digits: usize) -> String {
    let s = format!("{v:+.digits$}");
    match s.strip_prefix('-') {
        Some(rest) if is_zero(rest) => format!("+{rest}"),
        _ => s,
    }
}

/// A metric value as `report` and `metrics` print it: 4 decimals, or 4
/// significant decimals in scientific notation from 1e5 on (an inertia of
/// 111,690 is `1.1169e5` in both).
pub fn metric(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e5 {
        format!("{v:.4e}")
    } else {
        fixed(v, 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_never_print_negative_zero() {
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(-0.0, 4), "0.0000");
        assert_eq!(fixed(-0.006, 2), "-0.01");
        assert_eq!(signed(-0.001, 2), "+0.00");
        assert_eq!(signed(-0.3, 2), "-0.30");
        assert_eq!(signed(0.834, 2), "+0.83");
        assert_eq!(metric(111690.2), "1.1169e5");
        assert_eq!(metric(54555.59331), "54555.5933");
        assert_eq!(metric(-0.00001), "0.0000");
    }

    fn no_raw_controls(s: &str) {
        assert!(!s.chars().any(needs_escape), "raw control left in {s:?}");
    }

    #[test]
    fn osc_2_title_sequence_is_escaped() {
        let s = sanitize("run\x1b]2;pwned\x07");
        assert_eq!(s, "run\\x1b]2;pwned\\x07");
        no_raw_controls(&s);
    }

    #[test]
    fn osc_52_clipboard_sequence_is_escaped() {
        let s = sanitize("\x1b]52;c;cm0gLXJmIH4=\x1b\\");
        assert_eq!(s, "\\x1b]52;c;cm0gLXJmIH4=\\x1b\\");
        no_raw_controls(&s);
    }

    #[test]
    fn csi_sequences_and_line_controls_are_escaped() {
        assert_eq!(sanitize("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(sanitize("\x1b[2J"), "\\x1b[2J");
        assert_eq!(sanitize("a\rb\nc\td\x7f"), "a\\x0db\\x0ac\\x09d\\x7f");
        assert_eq!(sanitize("\0"), "\\x00");
    }

    #[test]
    fn c1_controls_are_escaped() {
        assert_eq!(sanitize("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(sanitize("\u{80}\u{9f}"), "\\u{80}\\u{9f}");
        // U+00A0 (no-break space) is printable and stays.
        assert_eq!(sanitize("a\u{a0}b"), "a\u{a0}b");
    }

    #[test]
    fn bidi_controls_are_neutralised() {
        let s = sanitize("evil\u{202e}gnp.exe");
        assert_eq!(s, "evil\\u{202e}gnp.exe");
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
        ] {
            let raw = format!("x{c}y");
            let s = sanitize(&raw);
            no_raw_controls(&s);
            assert_eq!(s, format!("x\\u{{{:x}}}y", u32::from(c)));
        }
    }

    #[test]
    fn plain_text_is_unchanged_and_not_copied() {
        let text = "cifar10/simclr-s0 [h]: 0.41";
        match sanitize(text) {
            Cow::Borrowed(b) => assert!(std::ptr::eq(b, text)),
            Cow::Owned(o) => panic!("copied plain text: {o:?}"),
        }
        // Printable non-ASCII is not touched either.
        assert!(matches!(sanitize("実験 👩‍🔬 é"), Cow::Borrowed(_)));
        assert_eq!(sanitize_display("plain"), "plain");
        assert_eq!(sanitize_display(format_args!("{}", "a\x1bb")), "a\\x1bb");
    }

    #[test]
    fn zwj_emoji_is_one_grapheme_two_columns() {
        let scientist = "👩‍🔬";
        assert_eq!(scientist.chars().count(), 3);
        assert_eq!(width(scientist), 2);
        assert_eq!(width("run-👩‍🔬"), 6);
        assert_eq!(width(&pad_end(scientist, 5)), 5);
        assert_eq!(pad_end(scientist, 5), "👩‍🔬   ");
        assert_eq!(pad_start(scientist, 3), " 👩‍🔬");
    }

    #[test]
    fn cjk_is_two_columns_a_character() {
        assert_eq!(width("実験"), 4);
        assert_eq!(pad_end("実験", 6), "実験  ");
        assert_eq!(pad_start("実験", 6), "  実験");
        assert_eq!(width("abc"), 3);
        assert_eq!(pad_end("abcdef", 3), "abcdef");
    }

    #[test]
    fn truncation_keeps_whole_graphemes_within_the_width() {
        let three = "👩‍🔬👩‍🔬👩‍🔬";
        assert_eq!(truncate_end(three, 6, "…"), three);
        assert_eq!(truncate_end(three, 5, "…"), "👩‍🔬👩‍🔬…");
        assert_eq!(truncate_end(three, 4, "…"), "👩‍🔬…");
        assert_eq!(truncate_start(three, 5, "…"), "…👩‍🔬👩‍🔬");
        assert_eq!(truncate_end("実験データ", 5, "~"), "実験~");
        assert_eq!(truncate_start("実験データ", 5, "~"), "~ータ");
        assert_eq!(truncate_end("abc", 0, "…"), "");
        assert_eq!(truncate_start("abc", 0, "…"), "");
        for w in 0..8 {
            assert!(width(&truncate_end(three, w, "…")) <= w);
            assert!(width(&truncate_start(three, w, "…")) <= w);
        }
    }

    #[test]
    fn file_component_is_one_safe_component() {
        assert_eq!(file_component("h").as_deref(), Some("h"));
        assert_eq!(file_component("enc.layer4").as_deref(), Some("enc.layer4"));
        assert_eq!(file_component("../../x").as_deref(), Some("_.._x"));
        assert_eq!(file_component("/abs/evil").as_deref(), Some("_abs_evil"));
        assert_eq!(file_component("a/b").as_deref(), Some("a_b"));
        assert_eq!(file_component("a\\b").as_deref(), Some("a_b"));
        assert_eq!(file_component(".hidden").as_deref(), Some("hidden"));
        assert_eq!(file_component("a\x1b]2;x\x07").as_deref(), Some("a_]2;x_"));
        assert_eq!(file_component("nul\0byte").as_deref(), Some("nul_byte"));
        assert_eq!(file_component("rlo\u{202e}x").as_deref(), Some("rlo_x"));
        for nothing in ["", ".", "..", "...", "/", "//", "\\", "\0", "\x1b"] {
            assert_eq!(file_component(nothing), None, "{nothing:?}");
        }
        let long = "é".repeat(80);
        for name in [
            "../../x",
            "/abs/evil",
            "..",
            "a/../b",
            "\u{202e}",
            long.as_str(),
        ] {
            if let Some(c) = file_component(name) {
                assert!(!c.contains(['/', '\\', '\0']), "{c:?}");
                assert!(!c.starts_with('.'), "{c:?}");
                assert!(c.len() <= MAX_COMPONENT_BYTES, "{c:?}");
                assert!(!c.chars().any(needs_escape), "{c:?}");
                let p = std::path::Path::new(&c);
                assert_eq!(p.components().count(), 1, "{c:?}");
                assert!(matches!(
                    p.components().next(),
                    Some(std::path::Component::Normal(_))
                ));
            }
        }
        // Cut on a character boundary: 'é' is 2 bytes.
        let long = file_component(&"é".repeat(80)).unwrap_or_default();
        assert_eq!(long.len(), MAX_COMPONENT_BYTES);
        let odd = file_component(&format!("a{}", "é".repeat(80))).unwrap_or_default();
        assert_eq!(odd.len(), MAX_COMPONENT_BYTES - 1);
    }
}
