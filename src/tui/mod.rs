//! The terminal UI of `sslwatch watch`: a consumer of the engine's event
//! stream that never computes metrics itself.
//!
//! - [`event`]: terminal input, engine events, signals and ticks merged into
//!   one [`event::Event`] channel;
//! - [`app`]: all state and [`app::App::update`];
//! - [`keys`]: the key table;
//! - [`view`]: pure drawing, one file per screen;
//! - [`theme`]: colours, `NO_COLOR` and `--ascii`.

pub mod app;
pub mod event;
pub(crate) mod keys;
pub(crate) mod series;
pub mod theme;
pub mod view;

pub use app::Options;

use crate::watch::event::EngineEvent;
use app::App;
use crossbeam_channel::Receiver;
use event::{Event, Events};
use ratatui::DefaultTerminal;
use std::io;
use std::time::{Duration, Instant};

/// At most this often a frame is drawn (about 20 per second).
const FRAME: Duration = Duration::from_millis(50);
/// How often time-dependent text (live markers, elapsed) is refreshed.
const TICK: Duration = Duration::from_secs(1);
/// Events applied before a frame is drawn, so a burst of results (startup
/// catch-up) cannot starve the screen or the keys.
const BATCH: usize = 2_000;

/// Run the UI until the user quits (q, Ctrl-C) or a signal (SIGTERM,
/// SIGHUP, SIGINT) arrives. The terminal is restored on every way out:
/// normal return, error (the guard), panic (ratatui's hook, installed
/// before the first draw), signal (turned into a normal quit).
///
/// `root_label` is ROOT as shown in the status line; `engine_events` is the
/// engine's event stream.
pub fn run(
    root_label: &str,
    engine_events: Receiver<EngineEvent>,
    options: Options,
) -> io::Result<()> {
    let mut events = Events::from_engine(engine_events);
    // Signals become a normal quit, so the terminal is restored by the same
    // path. If another handler is already installed (ctrlc allows one per
    // process), that one wins; raw mode turns Ctrl-C into a key anyway.
    let quit = events.sender();
    let _ = ctrlc::try_set_handler(move || {
        let _ = quit.send(Event::Quit);
    });

    // try_init installs the panic hook, then enters raw mode and the
    // alternate screen.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(e);
        }
    };
    let guard = RestoreOnDrop;
    let result = events
        .start_terminal_input()
        .and_then(|()| event_loop(&mut terminal, root_label, options, &events));
    events.stop();
    drop(guard);
    result
}

/// Restores the terminal when dropped (error paths, unwinding).
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        // Blank the alternate screen first: tmux keeps its content on the
        // main screen when the pane grew while sslwatch ran.
        let _ = ratatui::crossterm::execute!(
            io::stdout(),
            ratatui::crossterm::terminal::Clear(ratatui::crossterm::terminal::ClearType::All),
            ratatui::crossterm::cursor::MoveTo(0, 0)
        );
        ratatui::restore();
    }
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    root_label: &str,
    options: Options,
    events: &Events,
) -> io::Result<()> {
    let mut app = App::new(root_label, options, Instant::now());
    app.set_wall_clock(Instant::now(), std::time::SystemTime::now());
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut next_tick = Instant::now() + TICK;
    loop {
        let now = Instant::now();
        if dirty && last_draw.is_none_or(|t| now.duration_since(t) >= FRAME) {
            terminal.draw(|f| view::draw(&app, f))?;
            dirty = false;
            last_draw = Some(now);
        }
        // Sleep until an event, the next tick, or (when a frame is owed)
        // the end of the frame interval.
        let deadline = match (dirty, last_draw) {
            (true, Some(t)) => (t + FRAME).min(next_tick),
            _ => next_tick,
        };
        if let Some(ev) = events.next(deadline) {
            dirty |= app.update(ev, Instant::now());
            for _ in 0..BATCH {
                match events.try_next() {
                    Some(ev) => dirty |= app.update(ev, Instant::now()),
                    None => break,
                }
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            dirty |= app.update(Event::Tick, now);
            next_tick = now + TICK;
        }
        if app.take_export() {
            let text = export(&app);
            app.say(text);
            dirty = true;
        }
        if app.take_bell() {
            use std::io::Write as _;
            let mut out = io::stdout();
            let _ = out.write_all(b"\x07").and_then(|()| out.flush());
        }
        if app.quit {
            return Ok(());
        }
    }
}

/// Write the compare view to a new `sslwatch-METRIC-LAYER-N.svg` in the
/// current directory, or the temporary directory when that is inside ROOT
/// (the training directory is read-only to sslwatch); what happened, in
/// words.
fn export(app: &App) -> String {
    let fig = app.compare_figure();
    let layer = app.current_layer().unwrap_or_default();
    let safe: String = layer
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let base = format!("sslwatch-{}-{safe}", app.metric.key());
    // Inside ROOT (watch started from the runs' directory): the temp dir.
    let cwd = std::env::current_dir().unwrap_or_default();
    let inside_root = match (
        cwd.canonicalize(),
        std::path::Path::new(&app.root).canonicalize(),
    ) {
        (Ok(c), Ok(r)) => c.starts_with(r),
        _ => false,
    };
    let dir = if inside_root {
        std::env::temp_dir()
    } else {
        cwd
    };
    let Some(path) = (1..1000)
        .map(|i| dir.join(format!("{base}-{i}.svg")))
        .find(|p| !p.exists())
    else {
        return format!("not written: {base}-1..999.svg all exist");
    };
    match crate::plot::write(&fig, &path, 1200, 700) {
        Ok(()) => format!("wrote {}", path.display()),
        Err(e) => format!("not written: {e}"),
    }
}

#[cfg(test)]
mod tests;
