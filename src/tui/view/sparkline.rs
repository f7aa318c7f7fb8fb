//! A sparkline with gaps. ratatui's `Sparkline` takes `u64` values and has
//! no notion of a missing value, so the grid and the detail use this one.
//!
//! Values are drawn one per column, left to right (resample first with
//! [`crate::tui::series::resample_latest`]); `None` is a blank column, never
//! a zero. The lowest value still gets the smallest glyph, so a gap and a
//! minimum look different. The widget may be several rows tall: each row adds
//! a full glyph's worth of levels.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

const BLOCKS: [&str; 8] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
/// The ASCII levels of `" .:-=+*#"` (the space is the gap).
const ASCII: [&str; 7] = [".", ":", "-", "=", "+", "*", "#"];

pub struct Sparkline<'a> {
    pub values: &'a [Option<f64>],
    /// The shared vertical scale (lowest, highest).
    pub range: (f64, f64),
    pub ascii: bool,
    pub style: Style,
}

impl Sparkline<'_> {
    /// Level of `v` in `1..=levels`, or None for a gap.
    fn level(&self, v: Option<f64>, levels: usize) -> Option<usize> {
        let v = v.filter(|v| v.is_finite())?;
        let (lo, hi) = self.range;
        let frac = if hi > lo && hi.is_finite() && lo.is_finite() {
            ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        Some(1 + (frac * (levels - 1) as f64).round() as usize)
    }
}

impl Widget for Sparkline<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let glyphs: &[&str] = if self.ascii { &ASCII } else { &BLOCKS };
        let per_row = glyphs.len();
        let levels = per_row * area.height as usize;
        for (i, v) in self.values.iter().take(area.width as usize).enumerate() {
            let Some(level) = self.level(*v, levels) else {
                continue;
            };
            let x = area.x + i as u16;
            for row in 0..area.height {
                // row 0 is the bottom line
                let in_row = level.saturating_sub(row as usize * per_row).min(per_row);
                if in_row == 0 {
                    break;
                }
                let y = area.bottom() - 1 - row;
                buf[(x, y)]
                    .set_symbol(glyphs[in_row - 1])
                    .set_style(self.style);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(values: &[Option<f64>], ascii: bool, height: u16) -> Vec<String> {
        let area = Rect::new(0, 0, values.len() as u16, height);
        let mut buf = Buffer::empty(area);
        Sparkline {
            values,
            range: (0.0, 1.0),
            ascii,
            style: Style::new(),
        }
        .render(area, &mut buf);
        (0..height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn gaps_are_blank_and_minimum_is_visible() {
        let rows = render(&[Some(0.0), None, Some(1.0), Some(0.5)], false, 1);
        assert_eq!(rows, vec!["▁ █▅"]);
    }

    #[test]
    fn ascii_glyphs() {
        let rows = render(&[Some(0.0), None, Some(1.0)], true, 1);
        assert_eq!(rows, vec![". #"]);
    }

    #[test]
    fn two_rows_double_the_levels() {
        let rows = render(&[Some(0.0), Some(1.0), Some(0.5)], false, 2);
        assert_eq!(rows, vec![" █▁", "▁██"]);
    }

    #[test]
    fn constant_and_nan_values_do_not_panic() {
        let area = Rect::new(0, 0, 3, 1);
        let mut buf = Buffer::empty(area);
        Sparkline {
            values: &[Some(f64::NAN), Some(1.0), Some(f64::INFINITY)],
            range: (1.0, 1.0),
            ascii: false,
            style: Style::new(),
        }
        .render(area, &mut buf);
        assert_eq!(buf[(1, 0)].symbol(), "▅");
        assert_eq!(buf[(0, 0)].symbol(), " ");
    }
}
