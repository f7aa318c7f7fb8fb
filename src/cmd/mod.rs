//! One module per subcommand: its flags (`Args`) and its `run`.

pub mod alert_args;
pub mod demo;
pub mod metric_args;
pub mod metrics;
pub mod out;
pub mod plot;
pub mod report;
pub mod study;
pub mod train;
pub mod watch;

use std::process::ExitCode;

/// A problem with what the user gave us (flags, input files): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code 2 for bad input (usage errors, unreadable or invalid files),
/// 1 for everything else.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    let bad_input = err.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<sslwatch::read::ReadError>()
            || e.is::<sslwatch::metrics::MetricsError>()
    });
    if bad_input {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
