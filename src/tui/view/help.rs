//! The help overlay: every key from the key table, and what the marks mean.
//! Lines wider than the terminal wrap at spaces (a key's description under
//! itself, past the key column) rather than being cut at the border.

use super::format;
use crate::tui::app::App;
use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// Columns of " key       " before a description.
const KEY_W: usize = 11;

pub fn draw(_app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let (live, idle) = theme.live_marks();
    let [up, down, flat] = theme.trend_marks();
    // Two borders, and a space after the text.
    let room = (area.width as usize).saturating_sub(3);
    let mut lines: Vec<Line> = Vec::new();
    for b in BINDINGS {
        let label = format!(" {:<10}", b.label);
        for (i, part) in wrap(b.help, room.saturating_sub(KEY_W))
            .into_iter()
            .enumerate()
        {
            let key = if i == 0 {
                Span::styled(label.clone(), theme.strong())
            } else {
                Span::raw(" ".repeat(KEY_W))
            };
            lines.push(Line::from(vec![key, Span::raw(part)]));
        }
    }
    let keys_end = lines.len();
    let notes = [
        format!(
            "{} selected  * pinned  ! alert  #N milestones  {live}12s live (< 5 min)  {idle}2h idle",
            theme.pointer()
        ),
        format!("{up} {down} {flat} latest vs the 3 before; blank cell: no value"),
    ];
    for note in &notes {
        for part in wrap(note, room.saturating_sub(1)) {
            lines.push(Line::styled(format!(" {part}"), theme.dim()));
        }
    }
    // A blank line between the keys and the notes, where there is room.
    if lines.len() + 2 < area.height as usize {
        lines.insert(keys_end, Line::from(""));
    }
    let width = lines.iter().map(Line::width).max().unwrap_or(0) as u16 + 3;
    let height = lines.len() as u16 + 2;
    let rect = super::centered(area, width, height);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border_set())
        .title(Span::styled(" keys ", theme.strong()))
        .title_bottom(Line::styled(" Esc or ? closes ", theme.dim()).right_aligned());
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

/// `text` in lines of at most `width` columns, broken at spaces (runs of
/// spaces inside a line are kept; a word wider than `width` gets a line of
/// its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut words = text.split(' ');
    let mut line = words.next().unwrap_or_default().to_string();
    for word in words {
        if word.is_empty() {
            line.push(' ');
        } else if !line.trim_end().is_empty()
            && format::cols(&line) + 1 + format::cols(word) > width
        {
            out.push(line.trim_end().to_string());
            line = word.to_string();
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    out.push(line.trim_end().to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_short_lines_whole() {
        assert_eq!(
            wrap("select run (scroll in panes)", 80),
            ["select run (scroll in panes)"]
        );
        assert_eq!(
            wrap("filter runs (type; Enter keeps, Esc clears)", 20),
            ["filter runs (type;", "Enter keeps, Esc", "clears)"]
        );
        // Double spaces separate items in the notes: kept within a line.
        assert_eq!(wrap("a  b", 10), ["a  b"]);
        assert_eq!(wrap("abcdefgh ij", 4), ["abcdefgh", "ij"]);
    }
}
