//! Drawing: pure functions of [`App`] into a [`Frame`], one file per screen.
//! Nothing here changes state or reads the clock (`app.now` is "now").

pub mod compare;
pub mod detail;
pub mod errors;
pub mod format;
pub mod grid;
pub mod help;
pub mod map;
pub mod sparkline;
pub mod spectrum;
pub mod status;

use super::app::{App, Overlay, Screen};
use super::theme::{self, Theme};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// Below this the UI shows "terminal too small" instead of the screens.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;

/// Draw the whole UI.
pub fn draw(app: &App, frame: &mut Frame) {
    let theme = Theme {
        color: app.options.color,
        ascii: app.options.ascii,
    };
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
    } else {
        let [top, main, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        status::draw_status(app, &theme, frame, top);
        match app.screen {
            Screen::Grid => grid::draw(app, &theme, frame, main),
            Screen::Compare => compare::draw(app, &theme, frame, main),
        }
        for overlay in &app.overlays {
            match overlay {
                Overlay::Detail => detail::draw(app, &theme, frame, main),
                Overlay::Errors => errors::draw(app, &theme, frame, main),
                Overlay::Help => help::draw(app, &theme, frame, main),
            }
        }
        status::draw_footer(app, &theme, frame, bottom);
    }
    if theme.ascii {
        theme::asciify(frame.buffer_mut());
    }
    scrub(frame.buffer_mut());
}

/// The last line of defence: a cell holding a control, C1 or bidi
/// character (text that reached a view without
/// [`crate::text::sanitize`]) shows `?` instead, so nothing drawn can
/// change the terminal's state. ratatui writes cell symbols to the
/// terminal as they are, and appends zero-width characters to the
/// previous cell rather than dropping them.
pub fn scrub(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(crate::text::needs_escape) {
            cell.set_symbol("?");
        }
    }
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from(format!(
            "terminal too small ({}x{})",
            area.width, area.height
        )),
        Line::from(format!("sslwatch needs {MIN_WIDTH}x{MIN_HEIGHT}; q quits")),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

/// Write `text` at (x, y), at most `max` columns; nothing outside the
/// buffer (ratatui's `set_stringn` panics on a row outside it).
pub fn put(
    buf: &mut ratatui::buffer::Buffer,
    x: u16,
    y: u16,
    text: impl AsRef<str>,
    max: usize,
    style: ratatui::style::Style,
) {
    let area = buf.area;
    if y < area.top() || y >= area.bottom() || x < area.left() || x >= area.right() {
        return;
    }
    buf.set_stringn(x, y, text, max, style);
}

/// A `Rect` of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
