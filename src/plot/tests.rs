use super::*;
use crate::metrics::{LayerMetrics, Values};
use crate::palette;
use crate::report::Collected;
use crate::runs::{RunMeta, ScalarPoint};
use crate::watch::event::{MilestoneKey, MilestoneResult};
use std::collections::BTreeMap;

fn hex(colour: usize) -> String {
    let (r, g, b) = palette::run_rgb(colour);
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// One `<polyline>` of an SVG: its stroke and points.
#[derive(Debug)]
struct Poly {
    stroke: String,
    points: Vec<(f64, f64)>,
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn polylines(svg: &str) -> Vec<Poly> {
    svg.split("<polyline")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find("/>").expect("polyline closes")];
            let points = attr(tag, "points")
                .expect("points")
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').expect("x,y");
                    (x.parse().expect("x"), y.parse().expect("y"))
                })
                .collect();
            Poly {
                stroke: attr(tag, "stroke").expect("stroke").to_string(),
                points,
            }
        })
        .collect()
}

/// The contents of every `<text>` element (as written, XML-escaped).
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .map(|rest| {
            let body = &rest[rest.find('>').expect("tag ends") + 1..];
            body[..body.find("</text>").expect("text closes")]
                .trim()
                .to_string()
        })
        .collect()
}

fn line(run: &str, legend: &str, colour: usize, pieces: Vec<Vec<(f64, f64)>>) -> Line {
    Line {
        run: run.into(),
        legend: legend.into(),
        colour,
        pieces,
    }
}

fn ramp(offset: f64) -> Vec<(f64, f64)> {
    (0..5)
        .map(|i| (i as f64 * 10.0, offset + i as f64))
        .collect()
}

/// Two panels side by side, three runs each (palette indices 0, 2, 5).
fn two_by_three() -> Figure {
    let lines = || {
        vec![
            line("a-s0", "simclr", 0, vec![ramp(0.0)]),
            line("b-s0", "moco-v2", 2, vec![ramp(1.0)]),
            line("c-s0", "c-s0", 5, vec![ramp(2.0)]),
        ]
    };
    Figure {
        title: "layer h".into(),
        panels: vec![
            Panel {
                metric: Metric::EntropyBits,
                series: lines(),
                annotation: None,
            },
            Panel {
                metric: Metric::Silhouette,
                series: lines(),
                annotation: Some("Spearman ρ with probe acc: simclr +0.83".into()),
            },
        ],
    }
}

#[test]
fn svg_has_a_polyline_per_run_in_each_panel_in_the_run_colours() {
    let width = 1200;
    let svg = render_svg(&two_by_three(), width, 600).unwrap();
    let run_colours = [hex(0), hex(2), hex(5)];
    let all = polylines(&svg);
    let (series, other): (Vec<&Poly>, Vec<&Poly>) =
        all.iter().partition(|p| run_colours.contains(&p.stroke));
    assert_eq!(series.len(), 6, "{all:?}");
    // Everything else is an axis or tick, in the ink colour.
    assert!(other.iter().all(|p| p.stroke == "#282828"), "{other:?}");
    // Panel 0 is the left half, panel 1 the right half.
    for panel in 0..2 {
        let half = f64::from(width / 2);
        let inside = |p: &&&Poly| {
            p.points.iter().all(|(x, _)| {
                let left = *x < half;
                left == (panel == 0)
            })
        };
        let mut strokes: Vec<&str> = series
            .iter()
            .filter(inside)
            .map(|p| p.stroke.as_str())
            .collect();
        strokes.sort_unstable();
        let mut want: Vec<&str> = run_colours.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(strokes, want, "panel {panel}");
    }
    // Every series polyline has the five points of its ramp.
    assert!(series.iter().all(|p| p.points.len() == 5));
    // The palette entries are the TUI's xterm colours 33, 35 and 161.
    assert_eq!(run_colours[0], "#0087FF");
    assert_eq!(run_colours[1], "#00AF5F");

    let t = texts(&svg);
    for legend in ["simclr", "moco-v2", "c-s0"] {
        assert_eq!(
            t.iter().filter(|x| *x == legend).count(),
            1,
            "{legend}: {t:?}"
        );
    }
    assert!(t.contains(&"entropy (bits)".to_string()), "{t:?}");
    assert!(t.contains(&"silhouette".to_string()), "{t:?}");
    assert!(t.contains(&"layer h".to_string()), "{t:?}");
    assert!(
        t.contains(&"Spearman ρ with probe acc: simclr +0.83".to_string()),
        "{t:?}"
    );
    // Legend swatches: one filled rectangle per run, in its colour.
    for c in &run_colours {
        let swatches = svg
            .split("<rect")
            .skip(1)
            .filter(|r| r[..r.find("/>").unwrap_or(0)].contains(&format!("fill=\"{c}\"")))
            .count();
        assert_eq!(swatches, 1, "{c}");
    }
}

#[test]
fn a_gap_in_a_series_is_drawn_as_two_pieces() {
    let gappy = line(
        "a",
        "a",
        3,
        vec![
            vec![(0.0, 1.0), (10.0, 2.0), (20.0, 1.5)],
            vec![(40.0, 1.0), (50.0, 0.5)],
        ],
    );
    let fig = Figure {
        title: String::new(),
        panels: vec![Panel {
            metric: Metric::Rankme,
            series: vec![gappy],
            annotation: None,
        }],
    };
    let svg = render_svg(&fig, 800, 600).unwrap();
    let mine: Vec<Poly> = polylines(&svg)
        .into_iter()
        .filter(|p| p.stroke == hex(3))
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!((mine[0].points.len(), mine[1].points.len()), (3, 2));
    // The pieces do not overlap in x: the gap (step 30) is left empty.
    let end_first = mine[0].points.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    let start_second = mine[1].points.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    assert!(end_first < start_second);

    // The builder splits at a missing value.
    let p = collect::pieces(vec![
        (0, Some(1.0)),
        (1, Some(2.0)),
        (2, None),
        (3, Some(f64::NAN)),
        (4, Some(3.0)),
        (5, Some(4.0)),
    ]);
    assert_eq!(
        p,
        vec![vec![(0.0, 1.0), (1.0, 2.0)], vec![(4.0, 3.0), (5.0, 4.0)]]
    );
}

#[test]
fn hostile_names_are_escaped_for_xml_and_stripped_of_controls() {
    let evil = "a<&>\"b'\u{1b}]2;pwned\u{7}";
    let mut fig = two_by_three();
    fig.title = evil.into();
    fig.panels[0].series[0].legend = evil.into();
    fig.panels[1].series[0].legend = evil.into();
    fig.panels[1].annotation = Some(format!("Spearman ρ with probe acc: {evil} +0.50"));
    let svg = render_svg(&fig, 1000, 600).unwrap();
    assert!(!svg.contains('\u{1b}') && !svg.contains('\u{7}'));
    assert!(!svg.contains("a<&>"), "{svg}");
    let escaped = "a&lt;&amp;&gt;&quot;b&apos;\\x1b]2;pwned\\x07";
    let t = texts(&svg);
    // Title and legend (one legend entry per run).
    assert_eq!(t.iter().filter(|x| *x == escaped).count(), 2, "{t:?}");
    assert!(t.iter().any(|x| x.contains(escaped) && x.contains("+0.50")));
    // Still well-formed: every `<` opens a tag.
    for (i, _) in svg.match_indices('<') {
        let next = svg[i + 1..].chars().next().unwrap_or(' ');
        assert!(next.is_ascii_alphabetic() || next == '/' || next == '?' || next == '!');
    }
}

#[test]
fn png_has_the_signature_and_the_requested_size() {
    let png = render_png(&two_by_three(), 640, 480).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!((be(&png[16..20]), be(&png[20..24])), (640, 480));
    // 8-bit RGB.
    assert_eq!((png[24], png[25]), (8, 2));
}

#[test]
fn formats_come_from_the_extension_and_others_are_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let fig = two_by_three();
    let bad = dir.path().join("fig.pdf");
    match write(&fig, &bad, 800, 600) {
        Err(PlotError::UnknownExtension(p)) => assert_eq!(p, bad),
        other => panic!("{other:?}"),
    }
    assert!(!bad.exists());
    assert!(matches!(
        write(&fig, &dir.path().join("fig"), 800, 600),
        Err(PlotError::UnknownExtension(_))
    ));
    let svg = dir.path().join("fig.SVG");
    write(&fig, &svg, 800, 600).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let png = dir.path().join("fig.png");
    write(&fig, &png, 800, 600).unwrap();
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // Nothing but the two figures is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    assert!(matches!(
        render_svg(&fig, 100, 600),
        Err(PlotError::Size { width: 100, .. })
    ));
    assert!(matches!(
        render_png(&fig, 800, 7000),
        Err(PlotError::Size { height: 7000, .. })
    ));
}

// ---- the builder ---------------------------------------------------------

fn result(run: &str, step: u64, layer: &str, values: &[(Metric, f64)]) -> MilestoneResult {
    MilestoneResult::for_test(
        run,
        step,
        layer,
        Ok(LayerMetrics {
            n: 100,
            values: Values::of(values.iter().map(|&(m, v)| (m, Some(v)))),
            ..LayerMetrics::default()
        }),
    )
}

fn meta(method: Option<&str>) -> RunMeta {
    RunMeta {
        method: method.map(String::from),
        ..RunMeta::default()
    }
}

/// Runs `0-empty` (no results), `a-s0` and `a-s1` (both simclr), `b` (no
/// run.json method) on layers h and z; `a-s1`'s step 20 failed.
fn collected() -> (Collected, BTreeMap<String, RunMeta>) {
    let mut c = Collected::default();
    for run in ["a-s0", "a-s1", "b"] {
        for step in [0u64, 10, 20, 30] {
            for layer in ["z", "h"] {
                let e = step as f64 / 10.0;
                let r = result(
                    run,
                    step,
                    layer,
                    &[
                        (Metric::EntropyBits, e),
                        (Metric::Silhouette, 0.1 * e),
                        (Metric::ProbeAcc, 0.5 + 0.1 * e),
                    ],
                );
                c.results.insert(r.key.clone(), r);
            }
        }
    }
    let failed = MilestoneKey {
        run: "a-s1".into(),
        step: 20,
        layer: "h".into(),
    };
    if let Some(r) = c.results.get_mut(&failed) {
        r.outcome = Err("corrupt".into());
    }
    // The trainer's probe for b, falling with the step.
    c.scalars.insert(
        "b".into(),
        (0..4)
            .map(|i| ScalarPoint {
                step: i * 10,
                values: BTreeMap::from([("probe_acc".to_string(), 0.9 - i as f64 / 10.0)]),
            })
            .collect(),
    );
    let m = BTreeMap::from([
        ("0-empty".to_string(), meta(Some("byol"))),
        ("a-s0".to_string(), meta(Some("simclr"))),
        ("a-s1".to_string(), meta(Some("simclr"))),
        ("b".to_string(), meta(None)),
    ]);
    (c, m)
}

#[test]
fn from_collected_draws_one_line_per_run_on_the_first_layer() {
    let (c, m) = collected();
    let spec = Spec {
        metrics: vec![Metric::EntropyBits, Metric::Rankme, Metric::ProbeAcc],
        annotate: true,
        ..Spec::default()
    };
    let built = Figure::from_collected(&c, &m, &spec).unwrap();
    assert_eq!(built.layer, "h", "h comes before z, as in the TUI");
    assert_eq!(built.skipped, vec![Metric::Rankme]);
    let fig = &built.figure;
    assert_eq!(fig.title, "layer h");
    assert_eq!(fig.panels.len(), 2);
    let entropy = &fig.panels[0];
    let runs: Vec<(&str, &str, usize)> = entropy
        .series
        .iter()
        .map(|l| (l.run.as_str(), l.legend.as_str(), l.colour))
        .collect();
    // Colours count 0-empty (sorted first, no results) as the TUI does.
    assert_eq!(
        runs,
        vec![
            ("a-s0", "simclr (a-s0)", 1),
            ("a-s1", "simclr (a-s1)", 2),
            ("b", "b", 3)
        ]
    );
    assert_eq!(
        entropy.series[0].pieces,
        vec![vec![(0.0, 0.0), (10.0, 1.0), (20.0, 2.0), (30.0, 3.0)]]
    );
    // The failed milestone is a gap.
    assert_eq!(
        entropy.series[1].pieces,
        vec![vec![(0.0, 0.0), (10.0, 1.0)], vec![(30.0, 3.0)]]
    );
    // Probe accuracy: b's from its scalars (auto prefers the trainer's).
    let probe = &fig.panels[1];
    assert_eq!(probe.metric, Metric::ProbeAcc);
    assert_eq!(
        probe.annotation, None,
        "probe accuracy is not correlated with itself"
    );
    let b: Vec<f64> = probe.series[2].pieces[0].iter().map(|p| p.1).collect();
    assert_eq!(b.len(), 4);
    assert!(
        (b[0] - 0.9).abs() < 1e-12 && (b[3] - 0.6).abs() < 1e-12,
        "{b:?}"
    );
    // Entropy rises with the own probe (a-s0) and against b's trainer probe.
    assert_eq!(
        entropy.annotation.as_deref(),
        Some("Spearman ρ with probe acc: simclr (a-s0) +1.00 · simclr (a-s1) +1.00 · b -1.00")
    );
    assert_eq!(fig.points(), 4 + 3 + 4 + 4 + 3 + 4);
}

#[test]
fn from_collected_honours_layer_and_run_filters() {
    let (c, m) = collected();
    let spec = Spec {
        layer: Some("z".into()),
        runs: Some("a-*".into()),
        ..Spec::default()
    };
    let built = Figure::from_collected(&c, &m, &spec).unwrap();
    assert_eq!(built.layer, "z");
    let runs: Vec<&str> = built.figure.runs().iter().map(|l| l.run.as_str()).collect();
    assert_eq!(runs, vec!["a-s0", "a-s1"]);
    // Colours stay those of the unfiltered order.
    assert_eq!(built.figure.runs()[0].colour, 1);
    // ami_agreement was never computed: skipped.
    assert_eq!(built.skipped, vec![Metric::AmiAgreement]);

    let none = Spec {
        runs: Some("nope*".into()),
        ..Spec::default()
    };
    match Figure::from_collected(&c, &m, &none) {
        Err(PlotError::NoRunMatches { pattern, runs }) => {
            assert_eq!(pattern, "nope*");
            assert_eq!(runs, vec!["0-empty", "a-s0", "a-s1", "b"]);
        }
        other => panic!("{other:?}"),
    }
    let layer = Spec {
        layer: Some("emb".into()),
        ..Spec::default()
    };
    match Figure::from_collected(&c, &m, &layer) {
        Err(e @ PlotError::NoLayer { .. }) => {
            assert!(e.is_usage());
            assert_eq!(
                e.to_string(),
                "layer emb: no such layer in the runs drawn (layers: h, z)"
            );
        }
        other => panic!("{other:?}"),
    }
    let empty = Spec {
        metrics: vec![Metric::KnnAcc],
        ..Spec::default()
    };
    assert!(matches!(
        Figure::from_collected(&c, &m, &empty),
        Err(PlotError::Empty { .. })
    ));
    assert!(matches!(
        Figure::from_collected(&Collected::default(), &m, &Spec::default()),
        Err(PlotError::NoResults)
    ));
    let z = Spec {
        layer: Some("z".into()),
        ..Spec::default()
    };
    match Figure::from_collected(&Collected::default(), &m, &z) {
        Err(e) => assert_eq!(e.to_string(), "layer z: no such layer in the runs drawn"),
        other => panic!("{other:?}"),
    }
}
