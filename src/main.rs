//! The `sslwatch` binary: parse flags, dispatch, map errors to exit codes.
//! Everything else lives in the library (`sslwatch::*`) or in `cmd/`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Label-free live monitoring of self-supervised training runs.
// Help is wrapped to the terminal (clap's `wrap_help`), and at most 100
// columns wide: long lines in a wide terminal are hard to read.
#[derive(Parser, Debug)]
#[command(name = "sslwatch", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compute every metric of one embedding file (.npy or .npz).
    Metrics(cmd::metrics::Args),
    /// Compute (or load from cache) all runs under ROOT and print them.
    Report(cmd::report::Args),
    /// Draw the runs' metrics over steps as a figure (SVG or PNG).
    Plot(cmd::plot::Args),
    /// Watch ROOT live in a terminal UI.
    Watch(cmd::watch::Args),
    /// Simulated live runs, to see sslwatch work with one command.
    Demo(cmd::demo::Args),
    /// Train SimCLR, MoCo-v2 or SimSiam and write a run (feature `train`).
    Train(Box<cmd::train::Args>),
    /// The paper's analysis: train each method x seed (feature `train`), then
    /// check its findings on the runs (`--no-train`: runs trained elsewhere).
    Study(Box<cmd::study::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One malloc arena, so the engine can give memory back when it goes
    // idle; the trainer keeps glibc's per-thread arenas for libtorch.
    if !matches!(cli.command, Command::Train(_) | Command::Study(_)) {
        sslwatch::memory::configure_allocator();
    }
    let result = match cli.command {
        Command::Metrics(a) => cmd::metrics::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Plot(a) => cmd::plot::run(a),
        Command::Watch(a) => cmd::watch::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Train(a) => cmd::train::run(*a),
        Command::Study(a) => cmd::study::run(*a),
    };
    match result {
        Ok(code) => code,
        // `| head`: the reader has what it wanted; stop quietly.
        Err(err) if cmd::out::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // Sanitised: the message quotes paths and names from disk.
            cmd::out::warn(format_args!("sslwatch: {err:#}"));
            cmd::exit_code_for(&err)
        }
    }
}
