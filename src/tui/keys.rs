//! The key table: every key the UI understands, in one place. The handler
//! ([`action_for`]), the footer and the help overlay all read [`BINDINGS`].

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks the UI to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Previous run (or scroll up in a pane).
    Up,
    /// Next run (or scroll down in a pane).
    Down,
    /// Previous metric.
    PrevMetric,
    /// Next metric.
    NextMetric,
    /// Open the run detail of the selected run.
    Detail,
    /// Grid <-> compare.
    CycleView,
    /// Next layer among those present (h, z, p, emb, ...).
    CycleLayer,
    /// Start typing a filter.
    Filter,
    /// Pin / unpin the selected run for the compare view.
    Pin,
    /// Smoothing on / off.
    Smooth,
    /// The grid's vertical scales: per run (default) / shared per column.
    Scale,
    /// Errors pane on / off.
    Errors,
    /// Help overlay on / off.
    Help,
    /// Spectrum view: the selected run's milestones, then all runs' latest.
    Spectrum,
    /// Embedding map of the selected run's newest milestone.
    Map,
    /// Write the compare view (current metric, compared runs) to an SVG.
    Export,
    /// Close the open overlay or pane; nothing on the main screen.
    Back,
    /// Leave sslwatch.
    Quit,
}

/// One key: a code and whether Ctrl must be held. Shift is ignored for
/// characters (the character itself says `L` or `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

/// One row of the key table: the keys it lists and what each one does.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [(Key, Action)],
    /// How the keys are written in the help overlay and footer.
    pub label: &'static str,
    /// The help overlay's description.
    pub help: &'static str,
    /// The footer's short, ASCII-only text (None: help overlay only).
    pub footer: Option<&'static str>,
}

/// Every key, in the order the help overlay and the footer list them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[
            (key(KeyCode::Up), Action::Up),
            (ch('k'), Action::Up),
            (key(KeyCode::Down), Action::Down),
            (ch('j'), Action::Down),
        ],
        label: "↑↓ jk",
        help: "select run (scroll in panes)",
        footer: Some("j/k run"),
    },
    Binding {
        keys: &[
            (key(KeyCode::Left), Action::PrevMetric),
            (ch('h'), Action::PrevMetric),
            (key(KeyCode::Right), Action::NextMetric),
            (ch('l'), Action::NextMetric),
        ],
        label: "←→ hl",
        help: "select metric",
        footer: Some("h/l metric"),
    },
    Binding {
        keys: &[(key(KeyCode::Enter), Action::Detail)],
        label: "Enter",
        help: "run detail",
        footer: Some("Enter detail"),
    },
    Binding {
        keys: &[
            (key(KeyCode::Tab), Action::CycleView),
            (ch('c'), Action::CycleView),
        ],
        label: "Tab c",
        help: "grid / compare",
        footer: Some("Tab view"),
    },
    Binding {
        keys: &[(ch('L'), Action::CycleLayer)],
        label: "L",
        help: "next layer (h, z, p, emb, as present)",
        footer: Some("L layer"),
    },
    Binding {
        keys: &[(ch('/'), Action::Filter)],
        label: "/",
        help: "filter runs (type; Enter keeps, Esc clears)",
        footer: Some("/ filter"),
    },
    Binding {
        keys: &[(ch(' '), Action::Pin)],
        label: "Space",
        help: "pin run for compare",
        footer: Some("Space pin"),
    },
    Binding {
        keys: &[(ch('s'), Action::Smooth)],
        label: "s",
        help: "smoothing (debiased EMA) on/off",
        footer: Some("s smooth"),
    },
    Binding {
        keys: &[(ch('S'), Action::Scale)],
        label: "S",
        help: "grid scale: each run's own (default) / shared per column",
        footer: None,
    },
    Binding {
        keys: &[(ch('p'), Action::Spectrum), (ch('m'), Action::Map)],
        label: "p m",
        help: "spectrum (p again: all runs' latest) / PCA map of the newest milestone",
        footer: None,
    },
    Binding {
        keys: &[(ch('o'), Action::Export)],
        label: "o",
        help: "write the compare view to an SVG file (says where)",
        footer: None,
    },
    Binding {
        keys: &[(ch('e'), Action::Errors)],
        label: "e",
        help: "errors pane",
        footer: Some("e errors"),
    },
    Binding {
        keys: &[(ch('?'), Action::Help)],
        label: "?",
        help: "this help",
        footer: Some("? help"),
    },
    Binding {
        keys: &[(key(KeyCode::Esc), Action::Back)],
        label: "Esc",
        help: "close help, errors, detail, spectrum or map",
        footer: None,
    },
    Binding {
        keys: &[
            (ch('q'), Action::Quit),
            (
                Key {
                    code: KeyCode::Char('c'),
                    ctrl: true,
                },
                Action::Quit,
            ),
        ],
        label: "q Ctrl-C",
        help: "quit",
        footer: Some("q quit"),
    },
];

fn matches(k: &Key, event: &KeyEvent) -> bool {
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    k.code == event.code && k.ctrl == ctrl
}

/// The action of a key press in normal (not typing) mode, if any.
/// Key releases are ignored (terminals with the kitty protocol send them).
pub fn action_for(event: &KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    BINDINGS
        .iter()
        .flat_map(|b| b.keys.iter())
        .find(|(k, _)| matches(k, event))
        .map(|(_, action)| *action)
}

/// Is this Ctrl-C? (Quits even while typing a filter.)
pub fn is_ctrl_c(event: &KeyEvent) -> bool {
    event.code == KeyCode::Char('c') && event.modifiers.contains(KeyModifiers::CONTROL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn every_documented_key_maps_to_its_action() {
        let cases = [
            (press(KeyCode::Up), Action::Up),
            (press(KeyCode::Char('k')), Action::Up),
            (press(KeyCode::Down), Action::Down),
            (press(KeyCode::Char('j')), Action::Down),
            (press(KeyCode::Left), Action::PrevMetric),
            (press(KeyCode::Char('h')), Action::PrevMetric),
            (press(KeyCode::Right), Action::NextMetric),
            (press(KeyCode::Char('l')), Action::NextMetric),
            (press(KeyCode::Enter), Action::Detail),
            (press(KeyCode::Tab), Action::CycleView),
            (press(KeyCode::Char('c')), Action::CycleView),
            (
                KeyEvent::new(KeyCode::Char('L'), KeyModifiers::SHIFT),
                Action::CycleLayer,
            ),
            (press(KeyCode::Char('/')), Action::Filter),
            (press(KeyCode::Char(' ')), Action::Pin),
            (press(KeyCode::Char('s')), Action::Smooth),
            (
                KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT),
                Action::Scale,
            ),
            (press(KeyCode::Char('e')), Action::Errors),
            (press(KeyCode::Char('o')), Action::Export),
            (
                KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT),
                Action::Help,
            ),
            (press(KeyCode::Esc), Action::Back),
            (press(KeyCode::Char('q')), Action::Quit),
            (
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Action::Quit,
            ),
        ];
        for (event, want) in cases {
            assert_eq!(action_for(&event), Some(want), "{event:?}");
        }
    }

    #[test]
    fn unknown_keys_and_releases_do_nothing() {
        assert_eq!(action_for(&press(KeyCode::Char('x'))), None);
        assert_eq!(action_for(&press(KeyCode::F(5))), None);
        let mut release = press(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(action_for(&release), None);
    }

    #[test]
    fn lowercase_l_is_not_the_layer_key() {
        assert_eq!(
            action_for(&press(KeyCode::Char('l'))),
            Some(Action::NextMetric)
        );
    }
}
