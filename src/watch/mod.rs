//! Watching a root: file events, readiness, the metric scheduler and cache.

pub mod event;
