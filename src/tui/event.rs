//! The one event stream of the UI: terminal input, engine events, signals
//! and ticks arrive here as one [`Event`] enum, on one channel.
//!
//! Two small threads feed the channel: one reads the terminal (crossterm),
//! one forwards the engine's receiver. Ticks are not sent by a thread: the
//! loop asks [`Events::next`] with a deadline, and a deadline that passes is
//! the tick, so an idle UI sleeps on the channel and uses no CPU.

use crate::watch::event::EngineEvent;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ratatui::crossterm::event::KeyEvent;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Everything that can change the UI's state.
// Engine events are the common case and each is moved once; boxing them
// would add an allocation per event to save a few bytes per key press.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Time passed (the "time since last milestone" markers, the spinner).
    Tick,
    Engine(EngineEvent),
    /// The engine's channel closed (the engine stopped).
    EngineClosed,
    /// SIGTERM/SIGHUP/SIGINT, or the terminal's input is gone: leave.
    Quit,
}

/// How often the input thread wakes to see whether it should stop.
const INPUT_POLL: Duration = Duration::from_millis(200);

/// The merged channel and the threads feeding it.
pub struct Events {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    stop: Arc<AtomicBool>,
    input: Option<JoinHandle<()>>,
}

impl Events {
    /// A channel fed by `engine` only (tests, or a caller that reads the
    /// terminal itself).
    pub fn from_engine(engine: Receiver<EngineEvent>) -> Events {
        let (tx, rx) = crossbeam_channel::unbounded();
        let forward = tx.clone();
        std::thread::Builder::new()
            .name("sslwatch-tui-engine".into())
            .spawn(move || {
                for ev in engine.iter() {
                    if forward.send(Event::Engine(ev)).is_err() {
                        return;
                    }
                }
                let _ = forward.send(Event::EngineClosed);
            })
            .map(drop)
            .unwrap_or_else(|_| {
                // No thread: the UI still runs, it just hears nothing.
                let _ = tx.send(Event::EngineClosed);
            });
        Events {
            tx,
            rx,
            stop: Arc::new(AtomicBool::new(false)),
            input: None,
        }
    }

    /// Also read the terminal (keys and resizes) on a thread of its own.
    pub fn start_terminal_input(&mut self) -> std::io::Result<()> {
        let tx = self.tx.clone();
        let stop = Arc::clone(&self.stop);
        let handle = std::thread::Builder::new()
            .name("sslwatch-tui-input".into())
            .spawn(move || read_input(&tx, &stop))?;
        self.input = Some(handle);
        Ok(())
    }

    /// A sender for other sources (the signal handler).
    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }

    /// The next event, or `None` once `deadline` has passed.
    pub fn next(&self, deadline: Instant) -> Option<Event> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait) {
            Ok(ev) => Some(ev),
            Err(RecvTimeoutError::Timeout) => None,
            // Unreachable while `self.tx` lives; treat as "nothing".
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// An event that is already waiting, without blocking.
    pub fn try_next(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Stop the input thread: wait for it for a little more than one poll
    /// interval, then leave it behind. When the terminal is gone (SSH
    /// disconnect, tmux server killed; the SIGHUP arrives as [`Event::Quit`]),
    /// crossterm's poll can spin inside one call and never return, and a join
    /// would keep the process alive forever.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.input.take() {
            let deadline = Instant::now() + 2 * INPUT_POLL;
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_input(tx: &Sender<Event>, stop: &AtomicBool) {
    use ratatui::crossterm::event::{poll, read, Event as CtEvent};
    while !stop.load(Ordering::Relaxed) {
        let ready = match poll(INPUT_POLL) {
            Ok(ready) => ready,
            Err(_) => {
                let _ = tx.send(Event::Quit);
                return;
            }
        };
        if !ready {
            continue;
        }
        let event = match read() {
            Ok(CtEvent::Key(key)) => Event::Key(key),
            Ok(CtEvent::Resize(w, h)) => Event::Resize(w, h),
            Ok(_) => continue,
            Err(_) => Event::Quit,
        };
        let quit = event == Event::Quit;
        if tx.send(event).is_err() || quit {
            return;
        }
    }
}
