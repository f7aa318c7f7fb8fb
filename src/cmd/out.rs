//! Standard output and standard error for every subcommand.
//!
//! `println!` panics when stdout is gone (`sslwatch metrics f | head -1`:
//! EPIPE) or full (`> /dev/full`: ENOSPC), and `eprintln!` does the same on
//! stderr. Subcommands write their data through [`Stdout`], whose writes
//! return a [`StdoutError`]; `main` ends a broken pipe quietly with exit 0
//! (the reader has what it wanted) and reports anything else once, with
//! exit 1. Messages go through [`warn`], which sanitises them (they quote
//! paths and names from disk) and never fails.

use std::fmt::Display;
use std::io::{self, Write};

/// Writing to standard output failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {}", os_message(.0))]
pub struct StdoutError(pub io::Error);

impl StdoutError {
    /// The reader went away (`| head`): not a failure of the command.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Whether `err` is (or was caused by) stdout's reader going away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_broken_pipe)
    })
}

/// "No space left on device", without the " (os error 28)" suffix.
fn os_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

/// The locked standard output; every write can fail instead of panicking.
pub struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    pub fn lock() -> Stdout {
        Stdout(io::stdout().lock())
    }

    /// `text` and a newline.
    pub fn line(&mut self, text: impl Display) -> Result<(), StdoutError> {
        writeln!(self.0, "{text}").map_err(StdoutError)
    }

    /// `text` as it is (already holding its newlines).
    pub fn text(&mut self, text: &str) -> Result<(), StdoutError> {
        self.0.write_all(text.as_bytes()).map_err(StdoutError)
    }

    pub fn flush(&mut self) -> Result<(), StdoutError> {
        self.0.flush().map_err(StdoutError)
    }
}

/// One line on stderr, sanitised ([`sslwatch::text::sanitize`]: it may
/// quote paths, run and layer names). A stderr that cannot be written is
/// ignored: there is nowhere left to say so.
pub fn warn(message: impl Display) {
    let text = sslwatch::text::sanitize_display(message);
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Several lines on stderr, each as [`warn`] writes one.
pub fn warn_lines(text: &str) {
    for line in text.lines() {
        warn(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_os_error_in_words() {
        let full = StdoutError(io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(
            full.to_string(),
            "cannot write to standard output: No space left on device"
        );
        assert!(!full.is_broken_pipe());
        let pipe = StdoutError(io::Error::from_raw_os_error(libc::EPIPE));
        assert!(pipe.is_broken_pipe());
        let other = StdoutError(io::Error::other("odd"));
        assert_eq!(other.to_string(), "cannot write to standard output: odd");
    }
}
