//! Number, time and text formatting shared by the views. Text from disk
//! is sanitised by the views ([`crate::text::sanitize`]) before it is
//! measured, cut or drawn here.

use crate::text;

/// Display width of `s` in terminal columns, grapheme by grapheme.
pub fn cols(s: &str) -> usize {
    text::width(s)
}

/// A metric value in at most 6 columns, with precision that suits its size.
pub fn value(v: f64) -> String {
    if !v.is_finite() {
        return "nan".into();
    }
    let a = v.abs();
    if a >= 100_000.0 {
        format!("{v:.0e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        text::fixed(v, 1)
    } else {
        text::fixed(v, 2)
    }
}

/// A value or a dash when missing.
pub fn opt_value(v: Option<f64>) -> String {
    v.map(value).unwrap_or_else(|| "-".into())
}

/// A signed correlation ("+0.83"), or a dash.
pub fn corr(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => text::signed(x, 2),
        _ => "-".into(),
    }
}

/// "12s", "4m", "3h", "2d".
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// A step for an axis label: "950", "12k", "1.5M".
pub fn step(s: f64) -> String {
    let a = s.abs();
    let short = |x: f64, digits: usize, unit: &str| {
        let n = format!("{x:.digits$}");
        format!("{}{unit}", n.trim_end_matches('0').trim_end_matches('.'))
    };
    if a >= 1e6 {
        short(s / 1e6, 3, "M")
    } else if a >= 1e4 {
        short(s / 1e3, 1, "k")
    } else {
        format!("{s:.0}")
    }
}

/// Cut `text` to `width` display columns, ending with `ellipsis` when cut
/// (whole graphemes only).
pub fn truncate(text: &str, width: usize, ellipsis: &str) -> String {
    text::truncate_end(text, width, ellipsis).into_owned()
}

/// Cut `text` to `width` columns keeping its end (run names differ at the
/// end: `cifar10/simclr-s0`, `cifar10/simclr-s1`), starting with `ellipsis`.
pub fn truncate_start(text: &str, width: usize, ellipsis: &str) -> String {
    text::truncate_start(text, width, ellipsis).into_owned()
}

/// Cut `text` to `width` columns in the middle: a third of the room for its
/// start, the rest for its end (`/scratch/u…/cifar10/runs`): a root keeps
/// both where it is and which one it is.
pub fn truncate_middle(text: &str, width: usize, ellipsis: &str) -> String {
    if cols(text) <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(cols(ellipsis));
    let head_w = room / 3;
    let head = text::truncate_end(text, head_w, "");
    let tail = text::truncate_start(text, room - cols(&head), "");
    format!("{head}{ellipsis}{tail}")
}

/// A count with its noun: "1 run", "3 runs".
pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `left` and `right` in `width` columns with spaces between; `left` is
/// truncated first.
pub fn spread(left: &str, right: &str, width: usize, ellipsis: &str) -> String {
    let rw = cols(right);
    if rw >= width {
        return truncate(right, width, ellipsis);
    }
    let l = truncate(left, width - rw - usize::from(!left.is_empty()), ellipsis);
    let pad = width.saturating_sub(rw + cols(&l));
    format!("{l}{}{right}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_truncation_keeps_both_ends_in_the_width() {
        let root = "/scratch/someone/experiments/cifar10/runs";
        let cut = truncate_middle(root, 20, "…");
        assert_eq!(cut, "/scrat…/cifar10/runs");
        assert_eq!(cols(&cut), 20);
        assert_eq!(truncate_middle(root, 80, "…"), root);
        assert_eq!(truncate_middle("abcdef", 1, "…"), "…");
    }

    #[test]
    fn values_fit_six_columns() {
        for v in [
            0.0, -0.054, 4.2137, 12.34, 128.7, -999.0, 123456.0, 1e300, -1e-300,
        ] {
            assert!(value(v).len() <= 6, "{v} -> {}", value(v));
        }
        assert_eq!(value(0.4123), "0.41");
        assert_eq!(value(f64::NAN), "nan");
    }

    #[test]
    fn truncation_respects_width() {
        assert_eq!(truncate("simclr-s0", 20, "…"), "simclr-s0");
        assert_eq!(truncate("simclr-s0", 5, "…"), "simc…");
        assert_eq!(truncate("simclr-s0", 0, "…"), "");
        assert_eq!(spread("abc", "12", 8, "…"), "abc   12");
        assert_eq!(truncate_start("cifar10/simclr-s0", 10, "…"), "…simclr-s0");
        assert_eq!(truncate_start("abc", 0, "…"), "");
        assert_eq!(truncate_start("abc", 3, "…"), "abc");
        assert_eq!(spread("abcdefgh", "12", 6, "~"), "ab~ 12");
        assert_eq!(spread("a", "123456", 3, "~"), "12~");
    }

    #[test]
    fn truncation_counts_graphemes_not_characters() {
        // Each scientist is 3 characters (woman, ZWJ, microscope), 2 columns.
        let three = "👩‍🔬👩‍🔬👩‍🔬";
        assert_eq!(cols(three), 6);
        assert_eq!(truncate(three, 5, "…"), "👩‍🔬👩‍🔬…");
        assert_eq!(truncate_start(three, 5, "…"), "…👩‍🔬👩‍🔬");
        assert_eq!(spread(three, "#3", 8, "…"), "👩‍🔬👩‍🔬… #3");
        assert_eq!(cols(&spread(three, "#3", 8, "…")), 8);
    }

    #[test]
    fn steps_are_compact() {
        assert_eq!(step(950.0), "950");
        assert_eq!(step(12_000.0), "12k");
        assert_eq!(step(12_500.0), "12.5k");
        assert_eq!(step(1_500_000.0), "1.5M");
    }
}
