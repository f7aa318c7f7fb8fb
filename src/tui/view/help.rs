//! The help overlay: every key from the key table, and what the marks mean.

use crate::tui::app::App;
use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn draw(_app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let (live, idle) = theme.live_marks();
    let [up, down, flat] = theme.trend_marks();
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<10}", b.label), theme.strong()),
                Span::raw(b.help),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(" {} selected  * pinned  #N milestones", theme.pointer()),
        theme.dim(),
    ));
    lines.push(Line::styled(
        format!(" {live}12s live (new milestone < 5 min ago)  {idle}2h idle"),
        theme.dim(),
    ));
    lines.push(Line::styled(
        format!(" {up} {down} {flat} latest vs the 3 before; blank cell: no value"),
        theme.dim(),
    ));
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
