//! Watching a root: file events, readiness, the metric scheduler and cache.
//!
//! [`Engine::start`] returns a handle whose [`EngineHandle::events`] stream
//! carries everything front ends show (see [`event::EngineEvent`]).

pub mod cache;
mod engine;
pub mod event;
pub(crate) mod fswatch;
mod queue;
mod tracker;
mod worker;

pub use engine::{
    CacheChoice, Engine, EngineConfig, EngineError, EngineHandle, WatchChoice, DEFAULT_SETTLE,
    SETTLE_RANGE, STABLE_FOR,
};
pub use worker::{default_compute, ComputeFn};
