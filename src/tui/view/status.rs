//! The status line (top) and the key footer (bottom).

use super::format;
use crate::text::sanitize;
use crate::tui::app::App;
use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;
use crate::watch::event::WatchMode;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Columns the root keeps before the right-hand side is compacted.
const ROOT_MIN: usize = 24;

/// Root, watcher mode, queue, what is being computed, error count. When the
/// line is too narrow for the root, the right-hand side drops its less
/// useful words first (catching up, elapsed time).
pub fn draw_status(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width as usize;
    let title = " sslwatch ";
    let root = sanitize(&app.root);
    let fits = |right: &[Span]| {
        let right_w: usize = right.iter().map(|s| format::cols(s.content.as_ref())).sum();
        width.saturating_sub(right_w + format::cols(title) + 1) >= format::cols(&root).min(ROOT_MIN)
    };
    let mut right = status_right(app, theme, false);
    if !fits(&right) {
        right = status_right(app, theme, true);
    }
    let right_w: usize = right.iter().map(|s| format::cols(s.content.as_ref())).sum();
    let room = width.saturating_sub(right_w + format::cols(title) + 1);
    let root = format::truncate(&root, room, theme.ellipsis());
    let pad = width.saturating_sub(format::cols(title) + format::cols(&root) + right_w);
    let mut spans = vec![
        Span::styled(title, theme.strong()),
        Span::raw(root),
        Span::raw(" ".repeat(pad)),
    ];
    spans.extend(right);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The right-hand side of the status line; `compact` leaves out the
/// catching-up note and the elapsed time of the current computation.
fn status_right<'a>(app: &App, theme: &Theme, compact: bool) -> Vec<Span<'a>> {
    let sep = theme.sep();
    let mut right: Vec<Span> = Vec::new();
    let mode = match (&app.mode, app.engine_closed) {
        (_, true) => Span::styled("engine stopped", theme.bad()),
        (None, false) => Span::raw("starting"),
        (Some(WatchMode::Native), false) => Span::raw("native"),
        (Some(WatchMode::Poll { interval, .. }), false) => {
            Span::raw(format!("poll {}", format::duration(*interval)))
        }
    };
    right.push(mode);
    let queue = if app.caught_up || app.engine_closed || compact {
        format!("queue {}", app.queue)
    } else {
        format!("queue {} (catching up)", app.queue)
    };
    right.push(Span::raw(sep));
    right.push(Span::raw(queue));
    if let Some(c) = app.computing.last() {
        let elapsed = app.now.saturating_duration_since(c.since);
        let frames = theme.spinner();
        let frame_i = (elapsed.as_secs() as usize) % frames.len();
        let more = if app.computing.len() > 1 {
            format!(" +{}", app.computing.len() - 1)
        } else {
            String::new()
        };
        let time = if compact {
            String::new()
        } else {
            format!(" {}", format::duration(elapsed))
        };
        right.push(Span::raw(sep));
        right.push(Span::raw(format!(
            "{} {} @{}{time}{more}",
            frames[frame_i],
            sanitize(&c.run),
            c.step,
        )));
    }
    right.push(Span::raw(sep));
    let n = app.problems.len();
    let errors = format!("{n} error{}", if n == 1 { "" } else { "s" });
    right.push(if n > 0 {
        Span::styled(errors, theme.bad())
    } else {
        Span::styled(errors, theme.dim())
    });
    right.push(Span::raw(" "));
    right
}

/// The keys (from the key table), or the filter being typed.
pub fn draw_footer(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width as usize;
    let line = if let Some(input) = &app.typing {
        Line::from(vec![
            Span::styled(" filter: /", theme.strong()),
            Span::raw(sanitize(&input.text).into_owned()),
            Span::styled("_", theme.selected()),
            Span::styled("   Enter keep  Esc clear", theme.dim()),
        ])
    } else {
        Line::from(Span::styled(footer_text(width), theme.dim()))
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// As many footer items as fit, in table order, always ending with the
/// help and quit keys.
fn footer_text(width: usize) -> String {
    let items: Vec<&str> = BINDINGS.iter().filter_map(|b| b.footer).collect();
    let (head, tail) = items.split_at(items.len().saturating_sub(2));
    let tail = tail.join("  ");
    let mut out = String::from(" ");
    for item in head {
        if out.len() + item.len() + 2 + tail.len() > width {
            break;
        }
        out.push_str(item);
        out.push_str("  ");
    }
    out.push_str(&tail);
    out
}
