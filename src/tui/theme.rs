//! Colours and glyphs: one place that knows about `NO_COLOR` and `--ascii`.
//!
//! Run colours come from a fixed palette of mid-tone 256-colour entries that
//! stay readable on dark and light backgrounds (no white, black or grey
//! foregrounds). A run's colour is its first-seen index into the palette, so
//! it is stable for the session and does not depend on filtering. Dimmed text
//! uses the DIM modifier rather than a grey, so it follows the terminal's own
//! foreground colour.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;

/// The run colours: shared with `sslwatch plot`'s figures ([`crate::palette`]).
use crate::palette::RUN_PALETTE as PALETTE;

/// Classes of the embedding map: the run palette, then ten more mid-tones.
const CLASS_PALETTE: [u8; 20] = [
    33, 166, 35, 163, 37, 136, 161, 99, 130, 64, 69, 208, 71, 170, 44, 178, 204, 141, 124, 107,
];

/// How many classes get a colour of their own before colours repeat.
pub const CLASS_COLOURS: usize = CLASS_PALETTE.len();

/// Milestones from oldest to newest: cool and dim to warm and bright.
const AGE_RAMP: [u8; 8] = [61, 67, 73, 71, 107, 142, 178, 208];

/// How the UI may style and draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False when `NO_COLOR` is set: only bold/reverse/dim are used.
    pub color: bool,
    /// `--ascii`: only ASCII glyphs reach the terminal.
    pub ascii: bool,
}

impl Theme {
    /// Whether the environment asks for no colour (`NO_COLOR` set and
    /// non-empty, as <https://no-color.org> defines it).
    pub fn no_color_env() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    /// The style of run number `index` (its first-seen order).
    pub fn run(&self, index: usize) -> Style {
        if self.color {
            Style::new().fg(Color::Indexed(PALETTE[index % PALETTE.len()]))
        } else {
            Style::new()
        }
    }

    /// The style of class `index` in the embedding map (colours repeat
    /// after [`CLASS_COLOURS`]).
    pub fn class(&self, index: usize) -> Style {
        if self.color {
            Style::new().fg(Color::Indexed(CLASS_PALETTE[index % CLASS_PALETTE.len()]))
        } else {
            Style::new()
        }
    }

    /// The style of milestone `rank` of `of` (0 = oldest) when one run's
    /// milestones share a plot: a cool-to-warm ramp, the older half dimmed,
    /// the newest bold (without colour only the dimming and the bold remain).
    pub fn age(&self, rank: usize, of: usize) -> Style {
        let of = of.max(1);
        let rank = rank.min(of - 1);
        let mut style = Style::new();
        if self.color {
            let slot = if of == 1 {
                AGE_RAMP.len() - 1
            } else {
                rank * (AGE_RAMP.len() - 1) / (of - 1)
            };
            style = style.fg(Color::Indexed(AGE_RAMP[slot]));
        }
        if rank + 1 == of {
            style.add_modifier(Modifier::BOLD)
        } else if 2 * (rank + 1) <= of {
            style.add_modifier(Modifier::DIM)
        } else {
            style
        }
    }

    /// Secondary text (ranges, metadata, hints).
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// Titles and the selected column.
    pub fn strong(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The selected row / item.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Errors and the error count.
    pub fn bad(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Indexed(160))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    /// The "live" marker.
    pub fn good(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Indexed(34))
        } else {
            Style::new()
        }
    }

    /// Borders of panes and overlays.
    pub fn border_set(&self) -> symbols::border::Set<'static> {
        if self.ascii {
            ASCII_BORDER
        } else {
            symbols::border::PLAIN
        }
    }

    /// The chart marker for the compare view.
    pub fn marker(&self) -> symbols::Marker {
        if self.ascii {
            symbols::Marker::Dot // turned into `*` by [`asciify`]
        } else {
            symbols::Marker::Braille
        }
    }

    /// Glyph for the selected-row marker.
    pub fn pointer(&self) -> &'static str {
        if self.ascii {
            ">"
        } else {
            "▶"
        }
    }

    /// Live / idle markers.
    pub fn live_marks(&self) -> (&'static str, &'static str) {
        if self.ascii {
            ("*", "o")
        } else {
            ("●", "○")
        }
    }

    /// Trend marks: up, down, flat.
    pub fn trend_marks(&self) -> [&'static str; 3] {
        if self.ascii {
            ["^", "v", "="]
        } else {
            ["↑", "↓", "→"]
        }
    }

    /// Spinner frames for "computing".
    pub fn spinner(&self) -> &'static [&'static str] {
        if self.ascii {
            &["|", "/", "-", "\\"]
        } else {
            &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        }
    }

    /// Separator between status items.
    pub fn sep(&self) -> &'static str {
        if self.ascii {
            " | "
        } else {
            " │ "
        }
    }

    /// Marks of columns hidden to the left and to the right ("‹2", "9›").
    pub fn more_marks(&self) -> (&'static str, &'static str) {
        if self.ascii {
            ("<", ">")
        } else {
            ("‹", "›")
        }
    }

    /// Range dash ("0.1–0.4").
    pub fn range_dash(&self) -> &'static str {
        if self.ascii {
            ".."
        } else {
            "–"
        }
    }

    /// Truncation mark.
    pub fn ellipsis(&self) -> &'static str {
        if self.ascii {
            "~"
        } else {
            "…"
        }
    }
}

const ASCII_BORDER: symbols::border::Set = symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Replace the non-ASCII glyphs that ratatui's widgets draw themselves
/// (chart axes and markers, which cannot be configured) and the arrows of
/// the help overlay with ASCII ones.
/// Our own widgets choose ASCII glyphs directly; text from the data (run
/// names) is left alone.
pub fn asciify(buf: &mut Buffer) {
    let area = buf.area;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            let replacement = match cell.symbol() {
                "│" | "┃" => "|",
                "─" | "━" => "-",
                "└" | "┌" | "┐" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" => "+",
                "•" | "█" | "▄" | "▀" => "*",
                "↑" => "^",
                "↓" => "v",
                "←" => "<",
                "→" => ">",
                "·" => ".",
                _ => continue,
            };
            cell.set_symbol(replacement);
        }
    }
}
