//! The errors pane: each problem file once, with its reason.

use crate::text::sanitize;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use std::path::Path;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    // The lower half of the screen, or all of it when it is short.
    let rect = if area.height >= 16 {
        let h = area.height / 2;
        Rect {
            y: area.bottom() - h,
            height: h,
            ..area
        }
    } else {
        area
    };
    let n = app.problems.len();
    let title = format!(" errors ({n}) ");
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border_set())
        .title(Span::styled(title, theme.bad()))
        .title_bottom(Line::styled(" j/k scroll  Esc close ", theme.dim()).right_aligned());
    let lines: Vec<Line> = if n == 0 {
        vec![Line::styled("no problems so far", theme.dim())]
    } else {
        app.problems
            .iter()
            .skip(app.errors_scroll)
            .flat_map(|p| {
                let file = shown_path(&p.file, &app.root);
                // Engine messages often start with the full path: say it once.
                let full = format!("{}: ", p.file.display());
                let message = p.message.strip_prefix(&full).unwrap_or(&p.message);
                [
                    Line::styled(sanitize(&file).into_owned(), theme.strong()),
                    Line::from(format!("  {}", sanitize(message))),
                ]
            })
            .collect()
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// The path relative to ROOT when it is under it.
fn shown_path(file: &Path, root: &str) -> String {
    match file.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => file.display().to_string(),
    }
}
