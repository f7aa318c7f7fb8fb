//! `sslwatch watch ROOT`: the live terminal UI over the engine's events.

use super::report::EngineArgs;
use super::UsageError;
use sslwatch::tui::{self, theme::Theme};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Draw with ASCII only (no braille or block glyphs), for terminals and
    /// fonts without them. Colours follow NO_COLOR.
    #[arg(long)]
    pub ascii: bool,
    /// Ring the terminal bell when an alert fires (the badge and the run's
    /// `!` mark are always shown).
    #[arg(long)]
    pub bell: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Flags first, so a typo is reported the same way everywhere.
    let mut cfg = args.engine.config(true)?;
    // --layer is the layer the UI shows first; L cycles through all of them.
    cfg.layer_filter = None;
    let alerts = args.engine.opts.alert_config()?;
    let root = args.engine.root.display().to_string();
    if !std::io::stdout().is_terminal() {
        return Err(UsageError(format!(
            "`sslwatch watch` draws a terminal UI, but stdout is not a terminal; \
             to follow the runs in a log or a pipe, use `sslwatch report {root} --follow`"
        ))
        .into());
    }
    let options = tui::Options {
        ascii: args.ascii,
        color: !Theme::no_color_env(),
        layer: args.engine.opts.layer.clone(),
        probe: args.engine.opts.probe_source.into(),
        alerts,
        bell: args.bell,
    };
    let engine = super::report::start(cfg)?;
    tui::run(&root, engine.events(), options)?;
    // Dropping the handle stops the engine.
    drop(engine);
    Ok(ExitCode::SUCCESS)
}
