//! sslwatch: label-free live monitoring of self-supervised training runs.
//!
//! The library is the engine: reading embedding files ([`read`]), computing
//! label-free and labelled metrics ([`metrics`]), finding runs ([`runs`]),
//! watching them and scheduling work ([`watch`]). Front ends (the report, the
//! TUI, the demo) consume the engine's [`watch::event::EngineEvent`] stream and
//! never compute metrics themselves.
//!
//! The public surface: [`metrics::compute_layer`] and the metric kernels
//! (one module each), the metric registry ([`metrics::Metric`],
//! [`metrics::Values`]); [`read::EmbeddingFile`] and the writers in
//! [`read::write`]; [`runs`] (layout, `run.json`, the per-run summary);
//! [`watch::EngineHandle`] and its [`watch::event::EngineEvent`] stream;
//! the front ends ([`report`], [`tui`], [`demo`], [`study`]) and the alert
//! rules they share ([`alerts`]). Helpers that
//! only serve those (the memory estimate, value scaling, the file watcher,
//! the tracker, the key table, series smoothing) are `pub(crate)`.

pub mod alerts;
pub mod demo;
pub mod memory;
pub mod metrics;
pub mod palette;
pub mod plot;
pub mod read;
pub mod report;
pub mod runs;
pub mod study;
pub mod text;
#[cfg(feature = "train")]
pub mod train;
pub mod tui;
pub mod watch;
