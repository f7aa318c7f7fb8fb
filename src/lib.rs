//! sslwatch: label-free live monitoring of self-supervised training runs.
//!
//! The library is the engine: reading embedding files ([`read`]), computing
//! label-free and labelled metrics ([`metrics`]), finding runs ([`runs`]),
//! watching them and scheduling work ([`watch`]). Front ends (the report, the
//! TUI, the demo) consume the engine's [`watch::event::EngineEvent`] stream and
//! never compute metrics themselves.

pub mod demo;
pub mod memory;
pub mod metrics;
pub mod read;
pub mod report;
pub mod runs;
pub mod study;
pub mod text;
#[cfg(feature = "train")]
pub mod train;
pub mod tui;
pub mod watch;
