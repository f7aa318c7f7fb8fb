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
const ROOT_MIN: usize = 36;

/// Root, watcher mode, queue, what is being computed, error count. When the
/// line is too narrow for the root, the right-hand side drops its less
/// useful words first (catching up, elapsed time, then what is being
/// computed); a root that still does not fit is cut in the middle, so its
/// start and its last components (which tell roots apart) stay.
pub fn draw_status(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width as usize;
    let title = " sslwatch ";
    let root = sanitize(&app.root);
    let fits = |right: &[Span]| {
        let right_w: usize = right.iter().map(|s| format::cols(s.content.as_ref())).sum();
        width.saturating_sub(right_w + format::cols(title) + 1) >= format::cols(&root).min(ROOT_MIN)
    };
    let mut right = status_right(app, theme, Compact::No);
    for level in [Compact::Words, Compact::Items] {
        if fits(&right) {
            break;
        }
        right = status_right(app, theme, level);
    }
    let right_w: usize = right.iter().map(|s| format::cols(s.content.as_ref())).sum();
    let room = width.saturating_sub(right_w + format::cols(title) + 1);
    let root = format::truncate_middle(&root, room, theme.ellipsis());
    let pad = width.saturating_sub(format::cols(title) + format::cols(&root) + right_w);
    let mut spans = vec![
        Span::styled(title, theme.strong()),
        Span::raw(root),
        Span::raw(" ".repeat(pad)),
    ];
    spans.extend(right);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// How much the right-hand side of the status line leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Compact {
    No,
    /// Without "(catching up)" and the elapsed time.
    Words,
    /// Also without what is being computed.
    Items,
}

fn status_right<'a>(app: &App, theme: &Theme, compact: Compact) -> Vec<Span<'a>> {
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
    let queue = if app.caught_up || app.engine_closed || compact > Compact::No {
        format!("queue {}", app.queue)
    } else {
        format!("queue {} (catching up)", app.queue)
    };
    right.push(Span::raw(sep));
    right.push(Span::raw(queue));
    if let Some(c) = app.computing.last().filter(|_| compact < Compact::Items) {
        let elapsed = app.now.saturating_duration_since(c.since);
        let frames = theme.spinner();
        let frame_i = (elapsed.as_secs() as usize) % frames.len();
        let more = if app.computing.len() > 1 {
            format!(" +{}", app.computing.len() - 1)
        } else {
            String::new()
        };
        let time = if compact > Compact::No {
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
    let alerts = app.active_alerts().count();
    if alerts > 0 {
        let mark = if theme.ascii { "!" } else { "⚠" };
        right.push(Span::raw(sep));
        right.push(Span::styled(
            format!("{mark} {}", format::plural(alerts, "alert")),
            theme.bad().patch(theme.selected()),
        ));
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

/// The keys (from the key table), or the filter being typed, in
/// [`footer_height`] lines; a notice (what a key just did) comes first.
pub fn draw_footer(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width as usize;
    let lines: Vec<Line> = if let Some(input) = &app.typing {
        vec![Line::from(vec![
            Span::styled(" filter: /", theme.strong()),
            Span::raw(sanitize(&input.text).into_owned()),
            Span::styled("_", theme.selected()),
            Span::styled("   Enter keep  Esc clear", theme.dim()),
        ])]
    } else {
        footer_lines(width)
            .into_iter()
            .map(|l| Line::styled(l, theme.dim()))
            .collect()
    };
    let mut lines = lines;
    if let Some(notice) = app.notice() {
        let text = format!(" {}", sanitize(notice));
        lines.insert(0, Line::styled(text, theme.strong()));
        lines.truncate(area.height as usize);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// Lines the footer needs at `width`: every key of the table that has a
/// footer text, on one line when they fit, else on two.
pub fn footer_height(width: u16) -> u16 {
    footer_lines(width as usize).len() as u16
}

/// The footer items of the key table, in table order, filled into at most
/// two lines of `width`; the help and quit keys always end the last line
/// (items that fit nowhere are left out, the help lists every key).
fn footer_lines(width: usize) -> Vec<String> {
    let items: Vec<&str> = BINDINGS.iter().filter_map(|b| b.footer).collect();
    let (head, tail) = items.split_at(items.len().saturating_sub(2));
    let tail = tail.join("  ");
    let one: String = head.iter().map(|i| format!("{i}  ")).collect();
    if 1 + one.len() + tail.len() <= width {
        return vec![format!(" {one}{tail}")];
    }
    let mut lines = [String::from(" "), String::from(" ")];
    let mut line = 0;
    for item in head {
        // The second line keeps room for the help and quit keys.
        let room = if line == 0 {
            width
        } else {
            width.saturating_sub(tail.len())
        };
        if lines[line].len() + item.len() + 2 > room {
            if line == 1 {
                break;
            }
            line = 1;
            if lines[1].len() + item.len() + 2 > width.saturating_sub(tail.len()) {
                break;
            }
        }
        lines[line].push_str(item);
        lines[line].push_str("  ");
    }
    lines[1].push_str(&tail);
    lines
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}
