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

/// Mid-tone xterm-256 colours, distinct from each other and readable on both
/// dark and light terminals.
const PALETTE: [u8; 10] = [33, 166, 35, 163, 37, 136, 161, 99, 130, 64];

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
