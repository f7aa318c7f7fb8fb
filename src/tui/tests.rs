//! Snapshot tests of every screen at 80x24 and 160x48 from fixed synthetic
//! data, and key handling on the App state alone. Time is injected: every
//! event is applied at `t0 + seconds`, so nothing depends on the clock.

use super::app::{App, Metric, Options, Overlay, Screen, MAX_MILESTONES_PER_RUN};
use super::event::Event;
use super::view;
use crate::metrics::{LayerMetrics, Values};
use crate::runs::analysis::ProbeChoice;
use crate::runs::{RunMeta, ScalarPoint};
use crate::watch::event::{EngineEvent, MilestoneResult, RunInfo, WatchMode};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ROOT: &str = "/data/runs";

fn info(name: &str, method: Option<&str>, dataset: Option<&str>, labels: bool) -> RunInfo {
    RunInfo {
        name: name.into(),
        dir: PathBuf::from(ROOT).join(name),
        meta: RunMeta {
            method: method.map(String::from),
            dataset: dataset.map(String::from),
            arch: None,
            extra: BTreeMap::new(),
        },
        has_labels: labels,
    }
}

fn metrics(i: usize, sign: f64, labels: bool) -> LayerMetrics {
    let x = i as f64;
    LayerMetrics {
        n: 2000,
        dim: 128,
        k: 10,
        values: Values::of([
            (Metric::EntropyBits, Some(5.5 - sign * 0.12 * x)),
            (
                Metric::Silhouette,
                Some(0.04 + 0.03 * x - 0.002 * x * x + 0.03 * sign),
            ),
            (
                Metric::AmiAgreement,
                Some(0.30 + 0.05 * x * (1.2 - 0.2 * sign)),
            ),
            (Metric::AmiLabels, labels.then_some(0.20 + 0.045 * x)),
            (
                Metric::ProbeAcc,
                labels.then_some(0.40 + 0.04 * x - 0.001 * x * x),
            ),
            (Metric::KnnAcc, labels.then_some(0.35 + 0.042 * x)),
            (Metric::Rankme, Some(110.0 - 4.0 * x * sign)),
            (Metric::AlphaReq, Some(0.6 + 0.05 * x * sign)),
            (Metric::Uniformity, Some(-2.0 - 0.1 * x)),
            (Metric::OutlierFrac, Some(0.02 / (1.0 + x))),
            (Metric::EntropyInliers, Some(5.6 - sign * 0.11 * x)),
            (Metric::KmeansInertia, Some(1000.0 - 30.0 * x)),
        ]),
        nonfinite_rows: 0,
        seconds: 0.4,
        warnings: Vec::new(),
        // A spectrum that steepens (sign > 0) or flattens over the milestones.
        spectrum: {
            let s: Vec<f64> = (1..=64)
                .map(|i| (i as f64).powf(-(0.8 + 0.05 * x * sign)))
                .collect();
            let total: f64 = s.iter().sum();
            s.iter().map(|v| v / total).collect()
        },
        // Row 7 is an outlier early on only; row 3 throughout.
        outlier_idx: if i < 3 { vec![7, 3] } else { vec![3, 11] },
        map: None,
    }
}

fn result(run: &str, i: usize, layer: &str, outcome: Result<LayerMetrics, String>) -> Event {
    let step = 10 * (i as u64 + 1);
    let mut r = MilestoneResult::for_test(run, step, layer, outcome);
    r.step_name = format!("epoch_{step:04}");
    r.file = PathBuf::from(format!(
        "{ROOT}/{run}/milestones/{}/{layer}.npy",
        r.step_name
    ));
    Event::Engine(EngineEvent::Result(Box::new(r)))
}

/// 3 runs, 12 milestones each; one missing silhouette, one broken file, a
/// run without labels whose probe accuracy comes from scalars.jsonl.
fn fixture(options: Options) -> (App, Instant) {
    let t0 = Instant::now();
    let mut app = App::new(ROOT, options, t0);
    let mut t = 0;
    let mut feed = |app: &mut App, ev: Event| {
        t += 1;
        app.update(ev, t0 + Duration::from_secs(t));
    };
    feed(
        &mut app,
        Event::Engine(EngineEvent::Started {
            root: ROOT.into(),
            mode: WatchMode::Native,
        }),
    );
    let simclr = "cifar10/simclr-s0";
    let moco = "cifar10/moco-s0";
    let simsiam = "simsiam-long-experiment-name";
    for ev in [
        EngineEvent::RunFound(info(simclr, Some("simclr"), Some("cifar10"), true)),
        EngineEvent::RunFound(info(moco, Some("moco-v2"), Some("cifar10"), true)),
        EngineEvent::RunFound(info(simsiam, None, None, false)),
    ] {
        feed(&mut app, Event::Engine(ev));
    }
    let points = (0..12)
        .map(|i| ScalarPoint {
            step: 10 * (i + 1),
            values: BTreeMap::from([
                ("loss".to_string(), 5.0 - 0.2 * i as f64),
                ("probe_acc".to_string(), 0.3 + 0.03 * i as f64),
            ]),
        })
        .collect();
    feed(
        &mut app,
        Event::Engine(EngineEvent::Scalars {
            run: simsiam.into(),
            points,
            from_start: true,
        }),
    );
    for i in 0..12 {
        for layer in ["h", "z"] {
            let mut m = metrics(i, 1.0, true);
            if i == 4 && layer == "z" {
                m.values.set(crate::metrics::Metric::Silhouette, None);
                m.warnings
                    .push("silhouette undefined: clustering has 1 distinct cluster(s)".into());
            }
            feed(&mut app, result(simclr, i, layer, Ok(m)));
        }
        if i < 11 {
            for layer in ["h", "z"] {
                let outcome = if i == 6 && layer == "z" {
                    Err(format!(
                        "{ROOT}/{moco}/milestones/epoch_0070/z.npy: corrupt: bad magic"
                    ))
                } else {
                    let mut m = metrics(i, 0.7, true);
                    m.values.set(
                        crate::metrics::Metric::EntropyBits,
                        m.get(crate::metrics::Metric::EntropyBits).map(|e| e - 0.3),
                    );
                    Ok(m)
                };
                feed(&mut app, result(moco, i, layer, outcome));
            }
        }
        feed(
            &mut app,
            result(simsiam, i, "z", Ok(metrics(i, -1.0, false))),
        );
    }
    feed(&mut app, Event::Engine(EngineEvent::CaughtUp));
    // One new milestone after catching up: simclr is live.
    feed(&mut app, Event::Engine(EngineEvent::Queue { pending: 2 }));
    let mut late = metrics(12, 1.0, true);
    late.nonfinite_rows = 3;
    feed(&mut app, result(simclr, 12, "z", Ok(late)));
    feed(
        &mut app,
        Event::Engine(EngineEvent::Warning {
            file: PathBuf::from(format!("{ROOT}/{simsiam}/run.json")),
            message: "run.json is not valid JSON (line 1): ignored".into(),
        }),
    );
    feed(
        &mut app,
        Event::Engine(EngineEvent::Computing {
            run: moco.into(),
            step: 120,
            file: PathBuf::from(format!("{ROOT}/{moco}/milestones/epoch_0120/z.npy")),
        }),
    );
    // "now": 7 s later.
    app.update(Event::Tick, t0 + Duration::from_secs(t + 7));
    (app, t0)
}

fn colour_app() -> App {
    fixture(Options {
        ascii: false,
        color: true,
        layer: Some("z".into()),
        ..Options::default()
    })
    .0
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn press(app: &mut App, code: KeyCode) {
    let now = app.now;
    app.update(key(code), now);
}

fn chars(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The screen as text, one line per row, trailing spaces cut.
fn render(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal
        .draw(|f| view::draw(app, f))
        .expect("draw into a test backend");
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Every screen at 80x24, 100x30 and 200x60 (the issue-12 sizes).
macro_rules! screens {
    ($($name:ident: $setup:expr;)*) => {$(
        #[test]
        fn $name() {
            let app: App = $setup;
            for (w, h) in [(80, 24), (100, 30), (200, 60)] {
                insta::assert_snapshot!(
                    format!("{}_{w}x{h}", stringify!($name)),
                    render(&app, w, h)
                );
            }
        }
    )*};
}

screens! {
    grid: colour_app();
    grid_smoothed_layer_h: {
        let mut app = colour_app();
        press(&mut app, KeyCode::Char('s'));
        press(&mut app, KeyCode::Char('L')); // z -> h (the layers are h, z)
        app
    };
    grid_ascii: {
        fixture(Options { ascii: true, color: false, layer: Some("z".into()), ..Options::default() }).0
    };
    help: {
        let mut app = colour_app();
        press(&mut app, KeyCode::Char('?'));
        app
    };
    errors: {
        let mut app = colour_app();
        press(&mut app, KeyCode::Char('e'));
        app
    };
    filter_typing: {
        let mut app = colour_app();
        press(&mut app, KeyCode::Char('/'));
        chars(&mut app, "moco");
        app
    };
    empty: App::new(ROOT, Options::default(), Instant::now());
}

#[test]
fn tiny_terminal_shows_a_message() {
    let app = colour_app();
    let text = render(&app, 20, 5);
    insta::assert_snapshot!("tiny_20x5", text);
    assert!(text.contains("too small"), "{text}");
}

#[test]
fn no_size_and_no_screen_panics() {
    let mut apps = vec![
        colour_app(),
        App::new(ROOT, Options::default(), Instant::now()),
    ];
    let mut detail = colour_app();
    press(&mut detail, KeyCode::Enter);
    press(&mut detail, KeyCode::Char('e'));
    press(&mut detail, KeyCode::Char('?'));
    apps.push(detail);
    let mut compare = fixture(Options {
        ascii: true,
        color: false,
        layer: None,
        ..Options::default()
    })
    .0;
    press(&mut compare, KeyCode::Tab);
    apps.push(compare);
    for app in &apps {
        for w in [1, 2, 10, 39, 40, 41, 57, 80, 99, 200] {
            for h in [1, 2, 7, 8, 9, 13, 24, 60] {
                render(app, w, h);
            }
        }
    }
}

#[test]
fn nan_values_are_gaps_and_do_not_panic() {
    let t0 = Instant::now();
    let mut app = App::new(ROOT, Options::default(), t0);
    for i in 0..5 {
        let mut m = metrics(i, 1.0, true);
        m.values
            .set(crate::metrics::Metric::EntropyBits, Some(f64::NAN));
        m.values
            .set(crate::metrics::Metric::Silhouette, Some(f64::INFINITY));
        app.update(result("r", i, "z", Ok(m)), t0);
    }
    let run = &app.runs["r"];
    let s = app.series(run, Metric::EntropyBits, "z");
    assert!(s.iter().all(|(_, v)| v.is_none()));
    for screen in [KeyCode::Enter, KeyCode::Esc, KeyCode::Tab] {
        press(&mut app, screen);
        render(&app, 80, 24);
    }
}

#[test]
fn ascii_mode_draws_only_ascii_glyphs() {
    let mut app = fixture(Options {
        ascii: true,
        color: false,
        layer: Some("z".into()),
        ..Options::default()
    })
    .0;
    for keys in [
        vec![],
        vec![KeyCode::Tab],
        vec![KeyCode::Enter],
        vec![KeyCode::Char('?')],
    ] {
        for k in keys {
            press(&mut app, k);
        }
        let text = render(&app, 160, 48);
        let odd: String = text.chars().filter(|c| !c.is_ascii()).collect();
        assert!(odd.is_empty(), "non-ASCII {odd:?} in\n{text}");
    }
}

// ---- keys on state ---------------------------------------------------------

#[test]
fn up_down_select_runs_and_stop_at_the_ends() {
    let mut app = colour_app();
    assert_eq!(app.selected.as_deref(), Some("cifar10/moco-s0"));
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected.as_deref(), Some("cifar10/simclr-s0"));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        app.selected.as_deref(),
        Some("simsiam-long-experiment-name")
    );
    press(&mut app, KeyCode::Char('k'));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected.as_deref(), Some("cifar10/moco-s0"));
}

#[test]
fn left_right_cycle_metrics() {
    let mut app = colour_app();
    assert_eq!(app.metric, Metric::EntropyBits);
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(app.metric, Metric::Silhouette);
    // Left from the first grid metric wraps to the last one (registry order).
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Char('h'));
    let last = *crate::tui::app::grid_metrics()
        .last()
        .expect("grid metrics");
    assert_eq!(last, Metric::EntropyInliers);
    assert_eq!(app.metric, last);
    press(&mut app, KeyCode::Right);
    assert_eq!(app.metric, Metric::EntropyBits);
}

#[test]
fn filter_typing_enter_keeps_esc_clears() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('/'));
    // While typing, keys are text: q does not quit, j does not move.
    chars(&mut app, "simqj");
    assert!(!app.quit);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.filter, "sim");
    press(&mut app, KeyCode::Enter);
    assert!(app.typing.is_none());
    let names: Vec<&str> = app.visible_runs().map(|r| r.info.name.as_str()).collect();
    assert_eq!(names, ["cifar10/simclr-s0", "simsiam-long-experiment-name"]);
    // The selection moved onto a visible run.
    assert_eq!(app.selected.as_deref(), Some("cifar10/simclr-s0"));
    // Metadata matches too.
    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    press(&mut app, KeyCode::Char('/'));
    chars(&mut app, "MOCO-V2");
    press(&mut app, KeyCode::Enter);
    let names: Vec<&str> = app.visible_runs().map(|r| r.info.name.as_str()).collect();
    assert_eq!(names, ["cifar10/moco-s0"]);
}

#[test]
fn ctrl_c_quits_even_while_typing() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('/'));
    let now = app.now;
    app.update(
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        now,
    );
    assert!(app.quit);
}

#[test]
fn q_quits() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn esc_on_the_main_screen_changes_nothing() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('/'));
    chars(&mut app, "sim");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char(' '));
    let before = format!("{app:?}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(format!("{app:?}"), before);
    assert_eq!(app.screen, Screen::Compare);
}

#[test]
fn esc_closes_the_topmost_overlay() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay(), Some(Overlay::Detail));
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(
        app.overlays,
        [Overlay::Detail, Overlay::Errors, Overlay::Help]
    );
    // Help covers everything: j does not move the selection under it.
    let selected = app.selected.clone();
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected, selected);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay(), Some(Overlay::Errors));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay(), Some(Overlay::Detail));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay(), None);
    assert_eq!(app.screen, Screen::Grid);
}

#[test]
fn help_and_errors_toggle() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('?'));
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay(), None);
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Char('j')); // scrolls the pane
    assert_eq!(app.errors_scroll, 1);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(
        app.errors_scroll, 1,
        "two problems: cannot scroll past the last"
    );
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(app.overlay(), None);
}

#[test]
fn tab_and_c_cycle_grid_and_compare() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Compare);
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(app.screen, Screen::Grid);
}

#[test]
fn layer_key_cycles_present_layers_in_order() {
    let mut app = fixture(Options::default()).0;
    assert_eq!(app.layers(), ["h", "z"]);
    assert_eq!(app.current_layer().as_deref(), Some("h"));
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.current_layer().as_deref(), Some("z"));
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.current_layer().as_deref(), Some("h"));
    let t = app.now;
    app.update(result("other", 0, "emb", Ok(metrics(0, 1.0, false))), t);
    app.update(result("other", 0, "p", Ok(metrics(0, 1.0, false))), t);
    app.update(result("other", 0, "aux", Ok(metrics(0, 1.0, false))), t);
    assert_eq!(app.layers(), ["h", "z", "p", "emb", "aux"]);
}

#[test]
fn space_pins_runs_for_compare() {
    let mut app = colour_app();
    assert_eq!(app.compared_runs().len(), 3);
    press(&mut app, KeyCode::Char(' '));
    let names: Vec<&str> = app
        .compared_runs()
        .iter()
        .map(|r| r.info.name.as_str())
        .collect();
    assert_eq!(names, ["cifar10/moco-s0"]);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(app.compared_runs().len(), 3);
}

#[test]
fn smoothing_is_a_debiased_ema_over_all_milestones() {
    let mut app = colour_app();
    let run = &app.runs["cifar10/simclr-s0"];
    let raw = app.series(run, Metric::AmiAgreement, "z");
    press(&mut app, KeyCode::Char('s'));
    assert!(app.smoothing);
    let run = &app.runs["cifar10/simclr-s0"];
    let smooth = app.series(run, Metric::AmiAgreement, "z");
    assert_eq!(smooth.len(), raw.len());
    // First point unbiased, later ones lag behind a rising curve.
    assert_eq!(smooth[0], raw[0]);
    let (Some(s), Some(r)) = (smooth[5].1, raw[5].1) else {
        panic!("values present")
    };
    assert!(s < r);
    // Gaps stay gaps.
    let sil = app.series(run, Metric::Silhouette, "z");
    assert_eq!(sil[4].1, None);
}

#[test]
fn probe_accuracy_falls_back_to_scalars() {
    let app = colour_app();
    let run = &app.runs["simsiam-long-experiment-name"];
    let probe = app.series(run, Metric::ProbeAcc, "z");
    assert_eq!(probe.len(), 12);
    let v = probe[1].1.unwrap_or(f64::NAN);
    assert!((v - 0.33).abs() < 1e-12, "{v}");
}

#[test]
fn run_colours_follow_first_seen_order_and_never_change() {
    let mut app = colour_app();
    let colour = |app: &App, n: &str| app.runs.get(n).map(|r| r.colour);
    assert_eq!(colour(&app, "cifar10/simclr-s0"), Some(0));
    assert_eq!(colour(&app, "cifar10/moco-s0"), Some(1));
    assert_eq!(colour(&app, "simsiam-long-experiment-name"), Some(2));
    // Filtering does not change colours.
    press(&mut app, KeyCode::Char('/'));
    chars(&mut app, "simsiam");
    press(&mut app, KeyCode::Enter);
    assert_eq!(colour(&app, "simsiam-long-experiment-name"), Some(2));
    // A removed run that comes back keeps its colour; a new one gets a new one.
    let t = app.now;
    app.update(
        Event::Engine(EngineEvent::RunRemoved {
            run: "cifar10/moco-s0".into(),
        }),
        t,
    );
    app.update(result("new-run", 0, "z", Ok(metrics(0, 1.0, true))), t);
    app.update(
        result("cifar10/moco-s0", 0, "z", Ok(metrics(0, 1.0, true))),
        t,
    );
    assert_eq!(colour(&app, "new-run"), Some(3));
    assert_eq!(colour(&app, "cifar10/moco-s0"), Some(1));
}

#[test]
fn each_problem_file_is_listed_once_and_goes_when_fixed() {
    let mut app = colour_app();
    assert_eq!(app.problems.len(), 2);
    let t = app.now;
    let moco = "cifar10/moco-s0";
    let broken = || result(moco, 6, "z", Err("corrupt: still bad".into()));
    app.update(broken(), t);
    app.update(broken(), t);
    assert_eq!(app.problems.len(), 2);
    assert!(app
        .problems
        .iter()
        .any(|p| p.message == "corrupt: still bad"));
    app.update(result(moco, 6, "z", Ok(metrics(6, 1.0, true))), t);
    assert_eq!(app.problems.len(), 1);
    app.update(broken(), t);
    app.update(
        Event::Engine(EngineEvent::MilestoneRemoved {
            run: moco.into(),
            step: 70,
        }),
        t,
    );
    assert_eq!(app.problems.len(), 1);
    assert!(!app.runs[moco].milestones.contains_key(&70));
}

#[test]
fn history_is_bounded_per_run() {
    let t0 = Instant::now();
    let mut app = App::new(ROOT, Options::default(), t0);
    for i in 0..MAX_MILESTONES_PER_RUN + 5 {
        app.update(result("r", i, "z", Ok(LayerMetrics::default())), t0);
    }
    let run = &app.runs["r"];
    assert_eq!(run.milestones.len(), MAX_MILESTONES_PER_RUN);
    assert_eq!(run.milestones.keys().next(), Some(&60));
}

#[test]
fn live_marker_counts_only_new_results_after_catching_up() {
    let app = colour_app();
    let simclr = &app.runs["cifar10/simclr-s0"];
    assert_eq!(app.since_last(simclr), Some(Duration::from_secs(9)));
    let moco = &app.runs["cifar10/moco-s0"];
    assert_eq!(app.since_last(moco), None);
}

#[test]
fn removed_run_takes_its_selection_and_pin_with_it() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char(' '));
    let t = app.now;
    app.update(
        Event::Engine(EngineEvent::RunRemoved {
            run: "cifar10/moco-s0".into(),
        }),
        t,
    );
    assert!(app.pinned.is_empty());
    assert_eq!(app.selected.as_deref(), Some("cifar10/simclr-s0"));
}

#[test]
fn idle_ticks_redraw_only_when_something_shows_time() {
    let t0 = Instant::now();
    let mut app = App::new(ROOT, Options::default(), t0);
    assert!(!app.update(Event::Tick, t0));
    assert!(!app.update(key(KeyCode::Char('x')), t0));
    assert!(colour_app().update(Event::Tick, t0));
}

#[test]
fn a_narrow_status_line_keeps_the_root_and_drops_the_details_first() {
    let t0 = Instant::now();
    let root = "SIMULATED runs: /tmp/sslwatch-demo-1234-567890";
    let mut app = App::new(root, Options::default(), t0);
    app.update(
        Event::Engine(EngineEvent::Started {
            root: root.into(),
            mode: WatchMode::Native,
        }),
        t0,
    );
    app.update(Event::Engine(EngineEvent::Queue { pending: 146 }), t0);
    app.update(
        Event::Engine(EngineEvent::Computing {
            run: "simclr-like".into(),
            step: 30,
            file: PathBuf::from("/tmp/x/simclr-like/milestones/epoch_0030/h.npy"),
        }),
        t0,
    );
    let wide = render(&app, 160, 24);
    let status = wide.lines().next().unwrap_or_default();
    assert!(status.contains(root), "{status}");
    assert!(status.contains("(catching up)"), "{status}");
    let narrow = render(&app, 80, 24);
    let status = narrow.lines().next().unwrap_or_default();
    // Both ends of the root stay (which demo, which directory); what is
    // being computed goes before the root is cut further.
    assert!(status.contains("SIMULATED"), "{status}");
    assert!(status.contains("demo-1234-567890"), "{status}");
    assert!(!status.contains("(catching up)"), "{status}");
    assert!(status.contains("queue 146"), "{status}");
    let wide = render(&app, 160, 24);
    let status = wide.lines().next().unwrap_or_default();
    assert!(status.contains("simclr-like @30"), "{status}");
}

/// The buffer of one frame (cells, for column positions).
fn frame_buffer(app: &App, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal
        .draw(|f| view::draw(app, f))
        .expect("draw into a test backend");
    terminal.backend().buffer().clone()
}

/// The column of the first cell on row `y` whose symbol is `symbol`.
fn column_of(buf: &ratatui::buffer::Buffer, y: u16, symbol: &str) -> Option<u16> {
    (0..buf.area.width).find(|&x| buf[(x, y)].symbol() == symbol)
}

/// Runs whose names, run.json fields, layer names, step names and error
/// text carry terminal escapes, bidi overrides and wide graphemes.
fn hostile_app() -> App {
    let t0 = Instant::now();
    let mut app = App::new(
        "/data/\x1b]2;root\x07",
        Options {
            ascii: false,
            color: true,
            layer: Some("z".into()),
            ..Options::default()
        },
        t0,
    );
    let evil = "evil\x1b]2;pwned\x07";
    let scientist = "👩‍🔬-lab";
    let plain = "plain";
    let feed = |app: &mut App, ev: EngineEvent| app.update(Event::Engine(ev), t0);
    feed(
        &mut app,
        EngineEvent::RunFound(info(
            evil,
            Some("\u{1b}[31mred"),
            Some("rlo\u{202e}gnp.exe"),
            true,
        )),
    );
    feed(
        &mut app,
        EngineEvent::RunFound(info(scientist, Some("👩‍🔬👩‍🔬"), Some("実験"), true)),
    );
    feed(
        &mut app,
        EngineEvent::RunFound(info(plain, None, None, true)),
    );
    for i in 0..6 {
        for run in [evil, scientist, plain] {
            let z = if run == evil && i == 0 {
                Err(format!(
                    "{ROOT}/{evil}/milestones/epoch_0010/z.npy: corrupt: \x1b[2J"
                ))
            } else {
                Ok(metrics(i, 1.0, true))
            };
            app.update(result(run, i, "z", z), t0);
            app.update(result(run, i, "実験", Ok(metrics(i, 1.0, true))), t0);
        }
        let mut warned = metrics(i, 1.0, true);
        warned.warnings.push("warn\u{9b}2Jing".into());
        app.update(result(evil, i, "l\x1b[1mz", Ok(warned)), t0);
    }
    app
}

#[test]
fn names_from_disk_are_drawn_escaped_and_wide_names_keep_columns() {
    let mut app = hostile_app();
    let mut screens = Vec::new();
    screens.push(("grid", frame_buffer(&app, 160, 48)));
    // The top row is the evil run: its detail, then the errors pane.
    press(&mut app, KeyCode::Enter);
    screens.push(("detail", frame_buffer(&app, 160, 48)));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('e'));
    screens.push(("errors", frame_buffer(&app, 160, 48)));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Tab);
    screens.push(("compare", frame_buffer(&app, 160, 48)));
    let text = |buf: &ratatui::buffer::Buffer| -> String {
        buf.content.iter().map(|c| c.symbol()).collect()
    };
    for (name, buf) in &screens {
        let all = text(buf);
        let raw: Vec<char> = all
            .chars()
            .filter(|&c| crate::text::needs_escape(c))
            .collect();
        assert!(
            raw.is_empty(),
            "{name}: raw controls {raw:?} reach the terminal"
        );
    }
    let rendered = |i: usize| render_buffer(&screens[i].1);
    let (grid, detail, errors, compare) = (rendered(0), rendered(1), rendered(2), rendered(3));
    assert!(grid.contains("\\x1b]2;root\\x07"), "{grid}");
    assert!(grid.contains("]2;pwned\\x07"), "{grid}");
    assert!(detail.contains("evil\\x1b]2;pwned\\x07"), "{detail}");
    assert!(
        detail.contains("\\x1b[31mred/rlo\\u{202e}gnp.exe"),
        "{detail}"
    );
    assert!(detail.contains("l\\x1b[1mz: warn\\u{9b}2Jing"), "{detail}");
    assert!(errors.contains("corrupt: \\x1b[2J"), "{errors}");
    assert!(
        errors.contains("evil\\x1b]2;pwned\\x07/milestones"),
        "{errors}"
    );
    assert!(compare.contains("evil\\x1b]2;pwned\\x07"), "{compare}");

    // Grid: the scientist's name is one cell of two columns, and every
    // run's milestone count ends in the same column as the others'.
    let grid_buf = &screens[0].1;
    let name_row = (0..48)
        .find(|&y| column_of(grid_buf, y, "👩\u{200d}🔬").is_some())
        .expect("the scientist run is in the grid");
    assert_eq!(column_of(grid_buf, name_row, "👩\u{200d}🔬"), Some(2));
    assert_eq!(grid_buf[(4, name_row)].symbol(), "-");
    let counts: Vec<u16> = (0..48)
        .filter_map(|y| {
            let x = column_of(grid_buf, y, "#")?;
            (grid_buf[(x + 1, y)].symbol() == "6").then_some(x)
        })
        .collect();
    assert_eq!(counts.len(), 3, "{grid}");
    assert!(counts.iter().all(|&x| x == counts[0]), "{counts:?}\n{grid}");

    // Detail of the evil run: the wide layer name 実験 keeps the number
    // columns of the latest-milestone table where the header has them.
    let detail_buf = &screens[1].1;
    let row_of = |prefix: &str| {
        (0..48u16)
            .find(|&y| {
                render_row(detail_buf, y)
                    .trim_start_matches('│')
                    .starts_with(prefix)
            })
            .unwrap_or_else(|| panic!("no row starting {prefix:?} in\n{detail}"))
    };
    let header = row_of("layer");
    let wide = row_of(" 実");
    let z = row_of("*z");
    // The last column (RankMe) ends at the same x in the three rows.
    let last_x = |y: u16| {
        (0..160u16)
            .rev()
            .find(|&x| !matches!(detail_buf[(x, y)].symbol(), " " | "│"))
            .unwrap_or(0)
    };
    assert_eq!(last_x(wide), last_x(header), "{detail}");
    assert_eq!(last_x(z), last_x(header), "{detail}");

    insta::assert_snapshot!("hostile_names_detail_160x48", detail);
    let small_grid = render_buffer(&frame_buffer(&hostile_app(), 80, 24));
    insta::assert_snapshot!("hostile_names_grid_80x24", small_grid);
}

/// Row `y` as text (wide graphemes take their cell; the cell they cover is skipped).
fn render_row(buf: &ratatui::buffer::Buffer, y: u16) -> String {
    let mut line = String::new();
    let mut x = 0;
    while x < buf.area.width {
        let s = buf[(x, y)].symbol();
        line.push_str(s);
        x += crate::text::width(s).max(1) as u16;
    }
    line.trim_end().to_string()
}

fn render_buffer(buf: &ratatui::buffer::Buffer) -> String {
    (0..buf.area.height)
        .map(|y| render_row(buf, y) + "\n")
        .collect()
}

/// One labelled run whose trainer's probe (scalars.jsonl) falls from 0.989
/// to 0.974 (barely moving) while the own probe rises from 0.50 to 0.75;
/// entropy rises with the step.
fn disagreeing_probe_app(probe: ProbeChoice) -> App {
    let t0 = Instant::now();
    let mut app = App::new(
        ROOT,
        Options {
            layer: Some("z".into()),
            probe,
            ..Options::default()
        },
        t0,
    );
    let run = "digits/simclr";
    let feed = |app: &mut App, ev: EngineEvent| app.update(Event::Engine(ev), t0);
    feed(
        &mut app,
        EngineEvent::RunFound(info(run, Some("simclr"), Some("digits"), true)),
    );
    let trainer = [0.989, 0.986, 0.983, 0.980, 0.977, 0.974];
    let points = trainer
        .iter()
        .enumerate()
        .map(|(i, &p)| ScalarPoint {
            step: 10 * (i as u64 + 1),
            values: BTreeMap::from([("probe_acc".to_string(), p)]),
        })
        .collect();
    feed(
        &mut app,
        EngineEvent::Scalars {
            run: run.into(),
            points,
            from_start: true,
        },
    );
    for i in 0..6 {
        let mut m = metrics(i, 1.0, true);
        m.values.set(
            crate::metrics::Metric::EntropyBits,
            Some(4.0 + 0.1 * i as f64),
        );
        m.values.set(
            crate::metrics::Metric::ProbeAcc,
            Some(0.5 + 0.05 * i as f64),
        );
        app.update(result(run, i, "z", Ok(m)), t0);
    }
    press(&mut app, KeyCode::Enter);
    app
}

#[test]
fn detail_says_which_probe_it_correlates_with_and_warns_when_it_cannot_move() {
    let auto = render(&disagreeing_probe_app(ProbeChoice::Auto), 80, 24);
    let own = render(&disagreeing_probe_app(ProbeChoice::Own), 80, 24);
    let row = |screen: &str, start: &str| -> String {
        screen
            .lines()
            .find(|l| l.starts_with(&format!("│{start}")))
            .unwrap_or_else(|| panic!("no {start} row in\n{screen}"))
            .to_string()
    };
    // Auto prefers the trainer's probe: entropy rises while it falls.
    assert!(
        auto.contains("probe: trainer (scalars.jsonl probe_acc)"),
        "{auto}"
    );
    assert!(row(&auto, "entropy").contains("-1.00 -1.00"), "{auto}");
    assert!(row(&auto, "probe acc").contains("0.97"), "{auto}");
    assert!(
        auto.contains("! probe at the first milestone (step 10: 0.989) is within 0.03"),
        "{auto}"
    );
    // Own: the labels.npy probe rises with entropy, and has room to move.
    assert!(own.contains("probe: own (labels.npy"), "{own}");
    assert!(row(&own, "entropy").contains("+1.00 +1.00"), "{own}");
    assert!(row(&own, "probe acc").contains("0.75"), "{own}");
    assert!(!own.contains("! probe"), "{own}");
    insta::assert_snapshot!("detail_trainer_probe_warning_80x24", auto);
}

/// A map of 3 classes, one per quadrant-ish blob.
fn small_map() -> crate::metrics::EmbeddingMap {
    let mut xy = Vec::new();
    let mut class = Vec::new();
    for c in 0..3u32 {
        for i in 0..40 {
            let t = i as f32 * 0.15;
            let (cx, cy) = [(-3.0, 0.0), (3.0, 2.0), (3.0, -2.0)][c as usize];
            xy.push([cx + t.sin() * 0.5, cy + t.cos() * 0.5]);
            class.push(c);
        }
    }
    crate::metrics::EmbeddingMap {
        xy,
        class,
        class_names: vec!["0".into(), "1".into(), "2".into()],
        by_labels: true,
        explained: [0.41, 0.12],
    }
}

#[test]
fn p_opens_the_selected_runs_spectra_then_all_runs_then_closes() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('p'));
    assert_eq!(app.overlay(), Some(Overlay::Spectrum));
    assert!(!app.spectrum_all);
    let one = view::spectrum_plot(&app);
    // 12-13 milestones with a spectrum on z: 8 spread picks, oldest first,
    // the newest last.
    assert_eq!(one.lines.len(), 8);
    assert_eq!(one.lines[0].label, "step 10");
    assert!(one
        .lines
        .last()
        .is_some_and(|l| l.label.starts_with("step 1")));
    insta::assert_snapshot!("spectrum_one_run_80x24", render(&app, 80, 24));
    press(&mut app, KeyCode::Char('p'));
    assert!(app.spectrum_all);
    let all = view::spectrum_plot(&app);
    assert_eq!(all.lines.len(), app.visible_runs().count());
    insta::assert_snapshot!("spectrum_all_runs_120x40", render(&app, 120, 40));
    press(&mut app, KeyCode::Char('p'));
    assert_eq!(app.overlay(), None);
}

#[test]
fn m_shows_the_newest_map_and_says_when_there_is_none() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('m'));
    assert_eq!(app.overlay(), Some(Overlay::Map));
    let none = view::map_plot(&app);
    assert!(none.xy.is_empty());
    assert!(none
        .note
        .as_deref()
        .is_some_and(|n| n.contains("no map yet")));
    // A new result with a map: the view draws it, coloured by labels.
    let run = app.selected.clone().expect("a selected run");
    let mut m = metrics(20, 1.0, true);
    m.map = Some(std::sync::Arc::new(small_map()));
    app.update(
        result(&run, 20, "z", Ok(m)),
        app.now + Duration::from_secs(1),
    );
    let plot = view::map_plot(&app);
    assert_eq!(plot.xy.len(), 120);
    assert_eq!(plot.coloured_by, "labels");
    assert!(plot.title.contains("step 210"), "{}", plot.title);
    // The milestone keeps its numbers but not the map (one map per layer).
    let kept = &app.runs[&run].milestones[&210].layers["z"];
    assert!(kept.as_ref().is_ok_and(|lm| lm.map.is_none()));
    insta::assert_snapshot!("map_80x24", render(&app, 80, 24));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay(), None);
}

#[test]
fn detail_lists_the_latest_outliers_and_which_were_outliers_before() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Enter);
    let screen = render(&app, 160, 60);
    assert!(
        screen.contains("outliers at step 110 (z, farthest first): rows 3 11"),
        "latest outliers listed, farthest first:\n{screen}"
    );
    assert!(
        // moco's z: 10 milestones; rows 7, 3 in the first three, 3, 11 after.
        screen.contains("outliers earlier too (of 9 earlier milestones): 3 (9x), 11 (6x)"),
        "persistent rows counted:\n{screen}"
    );
}

// ---- the grid's scales, columns, footer and notices -------------------------

/// Two runs on one layer: "wide" moves over 0..1 on every metric, "narrow"
/// between 0.10 and 0.12 (the SimSiam-next-to-SimCLR silhouette case).
fn two_scales_app() -> App {
    let t0 = Instant::now();
    let mut app = App::new(ROOT, Options::default(), t0);
    for i in 0..10 {
        let wide = i as f64 / 9.0;
        let narrow = 0.10 + 0.02 * i as f64 / 9.0;
        for (run, v) in [("a-wide", wide), ("b-narrow", narrow)] {
            let mut m = metrics(i, 1.0, false);
            for metric in crate::tui::app::grid_metrics() {
                m.values.set(metric, Some(v));
            }
            app.update(result(run, i, "z", Ok(m)), t0);
        }
    }
    app
}

/// The distinct sparkline glyphs in the grid row at `y`, left of `x_end`.
fn spark_glyphs(
    buf: &ratatui::buffer::Buffer,
    y: u16,
    x0: u16,
    x_end: u16,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for x in x0..x_end {
        let s = buf[(x, y)].symbol();
        if "▁▂▃▄▅▆▇█".contains(s) && !s.trim().is_empty() {
            *seen.entry(s.to_string()).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn grid_scales_each_run_on_its_own_range_until_s_shares_them() {
    let mut app = two_scales_app();
    assert!(!app.shared_scale);
    let (w, h) = (100, 30);
    let text = render(&app, w, h);
    assert!(text.contains("per-run scale"), "{text}");
    // The narrow run's own range is written in its cell.
    assert!(text.contains("0.10–0.12"), "{text}");
    let buf = frame_buffer(&app, w, h);
    let narrow_row = (0..h)
        .find(|&y| render_row(&buf, y).contains("b-narrow"))
        .expect("narrow row");
    // Per run, the narrow run's sparkline climbs to the top line of its
    // row (right of the 25-column label).
    let top = spark_glyphs(&buf, narrow_row, 25, w);
    assert!(
        !top.is_empty(),
        "per-run: the narrow run reaches its top line"
    );

    press(&mut app, KeyCode::Char('S'));
    assert!(app.shared_scale);
    let text = render(&app, w, h);
    assert!(!text.contains("per-run scale"), "{text}");
    assert!(
        text.contains("0.00–1.00"),
        "shared range in the header:\n{text}"
    );
    assert!(
        text.contains("grid scale: one per column"),
        "S says what it did:\n{text}"
    );
    let buf = frame_buffer(&app, w, h);
    let top = spark_glyphs(&buf, narrow_row, 25, w);
    assert!(
        top.is_empty(),
        "shared: the narrow run stays at the bottom of the 0..1 scale: {top:?}"
    );
}

#[test]
fn grid_says_how_many_metric_columns_are_hidden_on_each_side() {
    let mut app = colour_app();
    let n = crate::tui::app::grid_metrics().len();
    let text = render(&app, 80, 24);
    let header = text.lines().nth(1).unwrap_or_default().to_string();
    let shown = view::grid::columns(&app, 80 - 20).shown.len();
    assert!(shown < n);
    assert!(
        header.contains(&format!("{}›", n - shown)),
        "right mark with the count:\n{header}"
    );
    assert!(
        !header.contains('‹'),
        "nothing hidden on the left yet:\n{header}"
    );
    for _ in 0..shown {
        press(&mut app, KeyCode::Char('l'));
    }
    let header = render(&app, 80, 24)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        header.contains('‹'),
        "scrolled: the left mark appears:\n{header}"
    );
}

#[test]
fn footer_keeps_every_key_at_80_and_100_columns() {
    let app = colour_app();
    for (w, h) in [(80, 24), (100, 30)] {
        let text = render(&app, w, h);
        let lines: Vec<&str> = text.lines().collect();
        let footer = lines[lines.len() - 2..].join("\n");
        for item in crate::tui::keys::BINDINGS.iter().filter_map(|b| b.footer) {
            assert!(
                footer.contains(item),
                "{w}x{h}: {item:?} missing from\n{footer}"
            );
        }
    }
    // Wide enough: one line.
    let text = render(&app, 200, 60);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("j/k run") && last.contains("q quit"),
        "{last}"
    );
}

#[test]
fn grid_rows_fill_a_tall_terminal() {
    let app = colour_app();
    let text = render(&app, 200, 60);
    let lines: Vec<&str> = text.lines().collect();
    // Between the header (status + 2 lines) and the footer, blank lines
    // are at most a few (rounding of the shared height).
    let body = &lines[3..lines.len() - 1];
    let blank = body.iter().filter(|l| l.trim().is_empty()).count();
    assert!(blank <= 6, "{blank} blank rows of {}:\n{text}", body.len());
}

#[test]
fn smoothing_keeps_the_raw_latest_value_next_to_the_smoothed_one() {
    let mut app = two_scales_app();
    press(&mut app, KeyCode::Char('s'));
    let text = render(&app, 100, 30);
    // Raw latest of the wide run is 1.00; its smoothed latest is lower.
    let run = &app.runs["a-wide"];
    let smoothed = app
        .series(run, Metric::EntropyBits, "z")
        .last()
        .and_then(|(_, v)| *v)
        .expect("smoothed");
    assert!(smoothed < 0.99);
    assert!(text.contains(" 1.00"), "raw latest:\n{text}");
    assert!(
        text.contains(&format!("ema {}", view::format::value(smoothed))),
        "smoothed latest:\n{text}"
    );
}

#[test]
fn l_with_one_layer_says_so_and_layer_start_keeps_cycling() {
    let mut app = two_scales_app();
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.current_layer().as_deref(), Some("z"));
    let text = render(&app, 100, 30);
    assert!(text.contains("only one layer here: z"), "{text}");
    // --layer names the layer to start on; L still cycles.
    let mut app = colour_app();
    assert_eq!(app.current_layer().as_deref(), Some("z"));
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.current_layer().as_deref(), Some("h"));
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.current_layer().as_deref(), Some("z"));
    // A start layer no run has falls back to the first present one.
    let mut app = fixture(Options {
        layer: Some("nope".into()),
        ..Options::default()
    })
    .0;
    assert_eq!(app.current_layer().as_deref(), Some("h"));
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.current_layer().as_deref(), Some("z"));
}

#[test]
fn notices_go_after_a_few_seconds() {
    let mut app = two_scales_app();
    press(&mut app, KeyCode::Char('S'));
    assert!(app.notice().is_some());
    let later = app.now + crate::tui::app::NOTICE_FOR;
    assert!(app.update(Event::Tick, later));
    assert!(app.notice().is_none());
}

// ---- compare and detail views (issue 12) -----------------------------------

fn no_color_app() -> App {
    fixture(Options {
        ascii: false,
        color: false,
        layer: Some("z".into()),
        ..Options::default()
    })
    .0
}

fn ascii_app() -> App {
    fixture(Options {
        ascii: true,
        color: false,
        layer: Some("z".into()),
        ..Options::default()
    })
    .0
}

/// The compare view of silhouette (it has a gap), all 3 runs.
fn compare_of(mut app: App) -> App {
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Right);
    app
}

/// The --ascii compare view with two runs pinned.
fn compare_pinned_ascii_app() -> App {
    let mut app = ascii_app();
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('c'));
    app
}

const LONG_METHOD: &str = "simclr-with-a-long-method-name";
const LONG_DATASET: &str = "imagenet-1k-subset-100";

/// The detail of cifar10/simclr-s0, whose run.json names a long method and
/// data set (run name, metadata and layer do not fit 80 columns).
fn detail_app() -> App {
    let mut app = colour_app();
    let now = app.now;
    app.update(
        Event::Engine(EngineEvent::RunFound(info(
            "cifar10/simclr-s0",
            Some(LONG_METHOD),
            Some(LONG_DATASET),
            true,
        ))),
        now,
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    app
}

screens! {
    compare_colour: compare_of(colour_app());
    compare_no_color: compare_of(no_color_app());
    compare_pinned_ascii: compare_pinned_ascii_app();
    detail: detail_app();
}

/// The chart's plot cells: right of the y axis, above the x axis, left of
/// the block's right border (the legend is above the chart below 100
/// columns). Returns (row, text) per plot row.
fn plot_rows(buf: &ratatui::buffer::Buffer) -> Vec<(u16, String)> {
    let (w, h) = (buf.area.width, buf.area.height);
    let corner = (0..h).find_map(|y| {
        (1..w - 1)
            .find(|&x| matches!(buf[(x, y)].symbol(), "└" | "+") && buf[(x + 1, y)].symbol() != " ")
            .filter(|&x| matches!(buf[(x, y.saturating_sub(1))].symbol(), "│" | "|"))
            .map(|x| (x, y))
    });
    let Some((axis_x, axis_y)) = corner else {
        panic!("no chart axes in\n{}", render_buffer(buf));
    };
    (0..axis_y)
        .filter(|&y| matches!(buf[(axis_x, y)].symbol(), "│" | "|"))
        .map(|y| {
            let text: String = (axis_x + 1..w - 1).map(|x| buf[(x, y)].symbol()).collect();
            (y, text)
        })
        .collect()
}

#[test]
fn compare_without_colour_gives_each_run_its_own_character_in_chart_and_legend() {
    for (mode, app) in [
        ("NO_COLOR", compare_of(no_color_app())),
        ("--ascii", compare_of(ascii_app())),
    ] {
        for (w, h) in [(80, 24), (100, 30)] {
            let buf = frame_buffer(&app, w, h);
            let screen = render_buffer(&buf);
            let plot: String = plot_rows(&buf).into_iter().map(|(_, t)| t).collect();
            let mut glyphs = Vec::new();
            for run in app.runs.values() {
                let g = view::compare::run_glyph(run.colour);
                glyphs.push(g);
                assert!(
                    plot.contains(g),
                    "{mode} {w}x{h}: {} draws no {g:?} in the chart:\n{screen}",
                    run.info.name
                );
                assert!(
                    screen.contains(&format!("{g} {}", run.info.name)),
                    "{mode} {w}x{h}: no legend entry {g:?} {}:\n{screen}",
                    run.info.name
                );
            }
            glyphs.sort_unstable();
            glyphs.dedup();
            assert_eq!(glyphs.len(), 3, "three runs, three characters");
            // Nothing but the runs' characters is drawn in the plot, so no
            // mark (the pin mark `*`, braille) can be taken for a curve.
            let other: String = plot
                .chars()
                .filter(|c| *c != ' ' && !glyphs.contains(c))
                .collect();
            assert!(other.is_empty(), "{mode} {w}x{h}: {other:?} in\n{screen}");
        }
    }
}

#[test]
fn compare_pinned_ascii_marks_no_pin_with_a_chart_character() {
    let app = compare_pinned_ascii_app();
    let buf = frame_buffer(&app, 80, 24);
    let screen = render_buffer(&buf);
    assert!(screen.contains("2 pinned runs"), "{screen}");
    let plot: String = plot_rows(&buf).into_iter().map(|(_, t)| t).collect();
    assert!(!plot.contains('*'), "{screen}");
    for name in ["cifar10/moco-s0", "cifar10/simclr-s0"] {
        let g = view::compare::run_glyph(app.runs[name].colour);
        assert!(screen.contains(&format!("{g} {name} ")), "{screen}");
        assert!(plot.contains(g), "{screen}");
    }
}

#[test]
fn compare_colour_legend_has_line_samples_in_run_colours_and_latest_values() {
    let app = compare_of(colour_app());
    let theme = super::theme::Theme {
        color: true,
        ascii: false,
    };
    for (w, h) in [(80, 24), (100, 30), (200, 60)] {
        let buf = frame_buffer(&app, w, h);
        let screen = render_buffer(&buf);
        for run in app.runs.values() {
            let latest = app
                .latest(run, Metric::Silhouette, "z")
                .expect("a latest silhouette");
            let value = view::format::value(latest.raw);
            // 200 columns: a legend column, the value on the line below.
            let (y, x) = (0..h)
                .find_map(|y| {
                    let row = render_row(&buf, y);
                    let at = row.find(&format!("━━ {}", run.info.name))?;
                    Some((y, row[..at].chars().count() as u16))
                })
                .unwrap_or_else(|| panic!("no legend entry for {}:\n{screen}", run.info.name));
            let row = render_row(&buf, y);
            let below: String = render_row(&buf, y + 1).chars().skip(x as usize).collect();
            assert!(
                row.contains(&format!("{} {value}", run.info.name))
                    || below.trim_start().starts_with(&value),
                "{w}x{h}: latest {value} of {} not beside it:\n{screen}",
                run.info.name
            );
            assert_eq!(buf[(x, y)].fg, theme.run(run.colour).fg.expect("a colour"));
        }
        // The metric is named in the title only: no axis title in the plot.
        for (y, text) in plot_rows(&buf) {
            assert!(
                !text.contains("silhouette") && !text.contains("step"),
                "{w}x{h}: an axis title on plot row {y}:\n{screen}"
            );
        }
        assert!(
            screen
                .lines()
                .nth(1)
                .is_some_and(|l| l.contains("silhouette by step")),
            "{screen}"
        );
    }
}

#[test]
fn smoothing_keeps_the_raw_latest_values_on_screen() {
    let mut app = compare_of(colour_app());
    press(&mut app, KeyCode::Char('s'));
    let screen = render(&app, 80, 24);
    let mut differ = false;
    for run in app.runs.values() {
        let l = app.latest(run, Metric::Silhouette, "z").expect("a value");
        let smoothed = l.smoothed.expect("smoothing is on");
        differ |= view::format::value(smoothed) != view::format::value(l.raw);
        let text = format!(
            "{} raw {} smooth {}",
            run.info.name,
            view::format::value(l.raw),
            view::format::value(smoothed)
        );
        assert!(screen.contains(&text), "no {text:?} in\n{screen}");
    }
    assert!(
        differ,
        "the fixture's smoothed values differ from the raw ones"
    );
    insta::assert_snapshot!("compare_smoothed_80x24", screen);

    // The detail: raw latest in the value column, the smoothed one in
    // brackets, and both in the selected metric's line.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let screen = render(&app, 80, 24);
    let run = app.selected_run().expect("a selected run");
    let l = app.latest(run, Metric::Silhouette, "z").expect("a value");
    let (raw, smoothed) = (
        view::format::value(l.raw),
        view::format::value(l.smoothed.expect("smoothing is on")),
    );
    let row = screen
        .lines()
        .find(|r| r.starts_with("│silhouette"))
        .unwrap_or_else(|| panic!("no silhouette row in\n{screen}"));
    let bracketed = format!("({smoothed})");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(
        cells
            .windows(2)
            .any(|w| w[0] == raw && w[1].starts_with(&bracketed)),
        "no {raw} {bracketed} in {row:?}:\n{screen}"
    );
    assert!(screen.contains("latest (smoothed)"), "{screen}");
    assert!(
        screen.contains(&format!(
            "silhouette latest {raw} (smoothed {smoothed}) @{}",
            l.step
        )),
        "{screen}"
    );
    insta::assert_snapshot!("detail_smoothed_80x24", screen);
}

#[test]
fn detail_title_keeps_the_layer_at_80_columns() {
    let app = detail_app();
    let screen = render(&app, 80, 24);
    let title = screen.lines().nth(1).unwrap_or_default();
    assert!(title.contains(" layer z "), "{title}");
    assert!(title.contains("cifar10/simclr-s0 · simclr-with"), "{title}");
    assert!(
        title.contains('…'),
        "the metadata is cut with an ellipsis: {title}"
    );
    let wide = render(&app, 200, 60);
    let title = wide.lines().nth(1).unwrap_or_default();
    assert!(
        title.contains(&format!("cifar10/simclr-s0 · {LONG_METHOD}/{LONG_DATASET}")),
        "{title}"
    );
    assert!(title.contains(" layer z "), "{title}");
}

#[test]
fn h_and_l_in_the_detail_move_the_highlighted_metric_and_show_its_numbers() {
    let mut app = detail_app();
    let highlighted = |app: &App| -> Vec<String> {
        let buf = frame_buffer(app, 100, 30);
        (0..30)
            .filter(|&y| {
                (2..28).contains(&y)
                    && buf[(1, y)]
                        .modifier
                        .contains(ratatui::style::Modifier::REVERSED)
            })
            .map(|y| render_row(&buf, y))
            .collect()
    };
    let rows = highlighted(&app);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with("│entropy "), "{rows:?}");
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(app.overlay(), Some(Overlay::Detail));
    assert_eq!(app.metric, Metric::Silhouette);
    let rows = highlighted(&app);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with("│silhouette "), "{rows:?}");
    // Its numbers: the latest raw value and its step, lowest and highest.
    let run = app.selected_run().expect("the detail's run");
    let raw = run.raw(Metric::Silhouette, "z");
    let values: Vec<(u64, f64)> = raw.iter().filter_map(|(s, v)| Some((*s, (*v)?))).collect();
    let (ls, lo) = values
        .iter()
        .copied()
        .reduce(|a, b| if b.1 < a.1 { b } else { a })
        .expect("values");
    let (hs, hi) = values
        .iter()
        .copied()
        .reduce(|a, b| if b.1 > a.1 { b } else { a })
        .expect("values");
    let (step, last) = *values.last().expect("values");
    let v = view::format::value;
    let want = format!(
        "silhouette latest {} @{step}  min {} @{ls}  max {} @{hs}",
        v(last),
        v(lo),
        v(hi)
    );
    for (w, h) in [(80, 24), (100, 30), (200, 60)] {
        let screen = render(&app, w, h);
        assert!(screen.contains(&want), "{w}x{h}: no {want:?} in\n{screen}");
    }
    press(&mut app, KeyCode::Char('h'));
    assert!(highlighted(&app)[0].starts_with("│entropy "));
}

#[test]
fn help_lines_wrap_instead_of_being_cut() {
    let mut app = colour_app();
    press(&mut app, KeyCode::Char('?'));
    for (w, h) in [(80, 24), (50, 36), (40, 40)] {
        let buf = frame_buffer(&app, w, h);
        let screen = render_buffer(&buf);
        // The text inside the help box only (the grid is behind it).
        let (top, left) = (0..h)
            .find_map(|y| {
                let x = column_of(&buf, y, "┌")?;
                (render_row(&buf, y).contains("┌ keys ")).then_some((y, x))
            })
            .unwrap_or_else(|| panic!("{w}x{h}: no help box in\n{screen}"));
        let right = (left + 1..w)
            .find(|&x| buf[(x, top)].symbol() == "┐")
            .expect("the box's right corner");
        let bottom = (top + 1..h)
            .find(|&y| buf[(left, y)].symbol() == "└")
            .expect("the box's bottom");
        let inside: String = (top + 1..bottom)
            .map(|y| {
                (left + 1..right)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let words: Vec<&str> = inside.split_whitespace().collect();
        for b in super::keys::BINDINGS {
            for word in b.help.split_whitespace() {
                assert!(
                    words.contains(&word),
                    "{w}x{h}: {word:?} of {:?} is missing:\n{screen}",
                    b.help
                );
            }
        }
        assert!(words.contains(&"idle"), "{w}x{h}:\n{screen}");
        assert!(words.contains(&"value"), "{w}x{h}:\n{screen}");
    }
    insta::assert_snapshot!("help_wrapped_50x36", render(&app, 50, 36));
}

#[test]
fn o_asks_for_the_compare_view_as_a_figure_of_the_compared_runs() {
    let mut app = colour_app();
    assert!(!app.take_export());
    press(&mut app, KeyCode::Char('o'));
    assert!(app.take_export());
    assert!(!app.take_export(), "once per press");
    let fig = app.compare_figure();
    assert_eq!(fig.panels.len(), 1);
    assert_eq!(fig.panels[0].metric, app.metric);
    let runs: Vec<&str> = fig.panels[0]
        .series
        .iter()
        .map(|l| l.run.as_str())
        .collect();
    let want: Vec<String> = app
        .compared_runs()
        .iter()
        .map(|r| r.info.name.clone())
        .collect();
    assert_eq!(runs, want);
    // Colours are the runs' own; values are the raw ones.
    for line in &fig.panels[0].series {
        let run = &app.runs[&line.run];
        assert_eq!(line.colour, run.colour);
        let raw: Vec<f64> = run
            .raw(app.metric, "z")
            .iter()
            .filter_map(|(_, v)| *v)
            .collect();
        let drawn: Vec<f64> = line.pieces.iter().flatten().map(|(_, y)| *y).collect();
        assert_eq!(drawn, raw);
    }
    let svg = crate::plot::render_svg(&fig, 800, 500).expect("svg");
    assert!(svg.contains("moco-v2"), "legend from run.json");
}

#[test]
fn an_alert_marks_the_run_shows_a_badge_and_rings_only_with_bell() {
    for bell in [false, true] {
        let mut app = fixture(Options {
            layer: Some("z".into()),
            alerts: crate::alerts::AlertConfig::default(),
            bell,
            ..Options::default()
        })
        .0;
        // The fixture's late simclr milestone has 3 non-finite rows.
        assert!(app.run_alerted("cifar10/simclr-s0"));
        assert!(!app.run_alerted("cifar10/moco-s0"));
        assert_eq!(app.take_bell(), bell);
        let text = render(&app, 100, 30);
        assert!(text.contains("⚠ 1 alert"), "{text}");
        let row = text
            .lines()
            .find(|l| l.contains("simclr-s0"))
            .unwrap_or_default();
        assert!(row.contains('!'), "{row}");
    }
    // No rules, no alerts.
    let app = fixture(Options {
        alerts: crate::alerts::AlertConfig::none(),
        ..Options::default()
    })
    .0;
    assert_eq!(app.active_alerts().count(), 0);
}

#[test]
fn the_live_marker_comes_from_the_newest_milestone_files_time() {
    let t0 = Instant::now();
    let wall = std::time::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let mut app = App::new(ROOT, Options::default(), t0);
    app.set_wall_clock(t0, wall);
    let Event::Engine(EngineEvent::Result(mut r)) =
        result("old-run", 0, "z", Ok(metrics(0, 1.0, false)))
    else {
        unreachable!("result() builds a result event");
    };
    // Written 25 minutes before watch started; loaded from the cache.
    r.modified = Some(wall - Duration::from_secs(25 * 60));
    r.cached = true;
    app.update(Event::Engine(EngineEvent::Result(r)), t0);
    app.update(Event::Engine(EngineEvent::CaughtUp), t0);
    let run = &app.runs["old-run"];
    assert_eq!(app.since_last(run), Some(Duration::from_secs(25 * 60)));
    let text = render(&app, 100, 30);
    assert!(text.contains("○25m"), "{text}");
}
