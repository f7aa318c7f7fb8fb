use super::*;
use crate::metrics::MetricsError;

fn metrics(pairs: &[(Metric, f64)]) -> LayerMetrics {
    LayerMetrics {
        n: 100,
        dim: 200,
        values: Values::of(pairs.iter().map(|&(m, v)| (m, Some(v)))),
        ..LayerMetrics::default()
    }
}

fn result(
    run: &str,
    step: u64,
    layer: &str,
    outcome: Result<LayerMetrics, String>,
) -> MilestoneResult {
    MilestoneResult::for_test(run, step, layer, outcome)
}

fn ok(step: u64, pairs: &[(Metric, f64)]) -> MilestoneResult {
    result("r", step, "h", Ok(metrics(pairs)))
}

fn only(rule: Rule) -> Alerts {
    Alerts::new(AlertConfig {
        rules: vec![rule],
        stale_after: DEFAULT_STALE_AFTER,
    })
}

fn rules(fired: &[Alert]) -> Vec<(u64, &str)> {
    fired
        .iter()
        .map(|a| (a.step.unwrap_or(u64::MAX), a.rule.as_str()))
        .collect()
}

#[test]
fn divergence_fires_on_nonfinite_rows_and_on_a_diverged_error_only() {
    let mut a = only(Rule::Divergence);
    assert!(a.on_result(&ok(1, &[])).is_empty(), "no NaN rows");
    let mut m = metrics(&[]);
    m.nonfinite_rows = 3;
    let fired = a.on_result(&result("r", 2, "h", Ok(m)));
    assert_eq!(rules(&fired), [(2, "divergence")]);
    assert_eq!(fired[0].value, Some(3.0));
    assert_eq!(fired[0].threshold, Some(0.0));
    assert_eq!(fired[0].layer.as_deref(), Some("h"));
    assert!(
        fired[0].message.contains("3 of 103 rows"),
        "{}",
        fired[0].message
    );

    // The error text a worker writes for a diverged layer.
    let mut b = only(Rule::Divergence);
    let why = MetricsError::Diverged {
        nonfinite: 6,
        n: 10,
    };
    let text = format!("/r/r/milestones/3/h.npy: layer h: {why}");
    let fired = b.on_result(&result("r", 3, "h", Err(text)));
    assert_eq!(rules(&fired), [(3, "divergence")]);
    assert!(
        fired[0]
            .message
            .starts_with("diverged: 6 of 10 rows contain NaN or Inf"),
        "{}",
        fired[0].message
    );
    // Another error is no divergence.
    let mut c = only(Rule::Divergence);
    let bad = result("r", 4, "h", Err("/r/x.npy: corrupt: bad magic".into()));
    assert!(c.on_result(&bad).is_empty());
}

#[test]
fn a_failed_milestone_keeps_the_other_rules_state() {
    let mut a = only(Rule::CollapseRankme);
    assert_eq!(a.on_result(&ok(1, &[(Metric::Rankme, 1.5)])).len(), 1);
    let bad = result("r", 2, "h", Err("/r/x.npy: corrupt: bad magic".into()));
    assert!(a.on_result(&bad).is_empty());
    assert_eq!(a.active().count(), 1, "still collapsed as far as we know");
    // Recovering clears it, so a second collapse fires again.
    assert!(a.on_result(&ok(3, &[(Metric::Rankme, 50.0)])).is_empty());
    assert_eq!(a.active().count(), 0);
    assert_eq!(a.on_result(&ok(4, &[(Metric::Rankme, 1.0)])).len(), 1);
}

#[test]
fn rankme_collapse_is_below_one_percent_of_the_dimension_not_at_it() {
    // dim 200: the threshold is 2.0.
    let mut a = only(Rule::CollapseRankme);
    assert!(a.on_result(&ok(1, &[(Metric::Rankme, 2.0)])).is_empty());
    let fired = a.on_result(&ok(2, &[(Metric::Rankme, 1.99)]));
    assert_eq!(rules(&fired), [(2, "collapse_rankme")]);
    assert_eq!(fired[0].value, Some(1.99));
    assert_eq!(fired[0].threshold, Some(2.0));
    // No RankMe: nothing to judge.
    let mut b = only(Rule::CollapseRankme);
    assert!(b.on_result(&ok(1, &[])).is_empty());
}

#[test]
fn the_top_variance_share_squares_the_normalised_singular_values() {
    // s = (0.5, 0.3, 0.2): variance shares 0.25 : 0.09 : 0.04.
    let full = top_variance_share(&[0.5, 0.3, 0.2]).unwrap();
    assert!((full - 0.25 / 0.38).abs() < 1e-12, "{full}");
    // Cut after two values: the rest (0.2) is at most 0.3 each, so the
    // squares are bounded by 0.3 * 0.2 and the share from below.
    let cut = top_variance_share(&[0.5, 0.3]).unwrap();
    assert!((cut - 0.25 / 0.40).abs() < 1e-12, "{cut}");
    assert!(cut <= full);
    assert_eq!(top_variance_share(&[]), None);
    assert_eq!(top_variance_share(&[f64::NAN, 0.1]), None);
    assert_eq!(top_variance_share(&[1.0]), Some(1.0));
}

#[test]
fn spectrum_collapse_fires_above_ninety_percent_of_the_variance_not_at_it() {
    let with = |spectrum: Vec<f64>| LayerMetrics {
        spectrum,
        ..metrics(&[])
    };
    let mut a = only(Rule::CollapseSpectrum);
    // 0.75 and 0.25: 0.5625 / 0.625 = 0.9 exactly.
    assert_eq!(top_variance_share(&[0.75, 0.25]), Some(0.9));
    assert!(a
        .on_result(&result("r", 1, "h", Ok(with(vec![0.75, 0.25]))))
        .is_empty());
    let fired = a.on_result(&result("r", 2, "h", Ok(with(vec![0.8, 0.2]))));
    assert_eq!(rules(&fired), [(2, "collapse_spectrum")]);
    let share = fired[0].value.unwrap();
    assert!((share - 0.64 / 0.68).abs() < 1e-12);
    assert_eq!(fired[0].threshold, Some(TOP_VARIANCE_SHARE));
}

#[test]
fn entropy_collapse_is_below_a_tenth_of_the_runs_peak() {
    let e = |v| [(Metric::EntropyBits, v)];
    let mut a = only(Rule::EntropyCollapse);
    assert!(a.on_result(&ok(1, &e(5.0))).is_empty());
    assert!(a.on_result(&ok(2, &e(0.5))).is_empty(), "at 10% of 5 bits");
    let fired = a.on_result(&ok(3, &e(0.49)));
    assert_eq!(rules(&fired), [(3, "entropy_collapse")]);
    assert_eq!(fired[0].threshold, Some(0.5));
    assert!(fired[0].message.contains("step 1"), "{}", fired[0].message);

    // A layer that never reached a bit has no collapse to fall from.
    let mut b = only(Rule::EntropyCollapse);
    assert!(b.on_result(&ok(1, &e(0.9))).is_empty());
    assert!(b.on_result(&ok(2, &e(0.01))).is_empty());
}

#[test]
fn ami_collapse_needs_a_fall_from_above_point_two_to_below_point_zero_two() {
    let v = |x| [(Metric::AmiAgreement, x)];
    let mut a = only(Rule::AmiCollapse);
    assert!(a.on_result(&ok(1, &v(0.3))).is_empty());
    assert!(a.on_result(&ok(2, &v(0.02))).is_empty(), "at the threshold");
    let fired = a.on_result(&ok(3, &v(0.019)));
    assert_eq!(rules(&fired), [(3, "ami_collapse")]);
    assert_eq!(fired[0].threshold, Some(AMI_LOW));

    // Never above 0.2: low agreement from the start is not a collapse.
    let mut b = only(Rule::AmiCollapse);
    assert!(b.on_result(&ok(1, &v(0.2))).is_empty());
    assert!(b.on_result(&ok(2, &v(0.0))).is_empty());
}

#[test]
fn an_alert_fires_once_until_its_condition_clears_then_again() {
    let r = |x| [(Metric::Rankme, x)];
    let mut a = only(Rule::CollapseRankme);
    assert_eq!(a.on_result(&ok(1, &r(1.0))).len(), 1);
    assert!(
        a.on_result(&ok(2, &r(1.2))).is_empty(),
        "still collapsed: once"
    );
    let active: Vec<&Alert> = a.active().collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].step, Some(1), "the alert says when it fired");
    assert!(a.on_result(&ok(3, &r(80.0))).is_empty());
    assert_eq!(a.active().count(), 0, "cleared");
    assert_eq!(
        rules(&a.on_result(&ok(4, &r(1.0)))),
        [(4, "collapse_rankme")]
    );
}

#[test]
fn layers_are_judged_apart() {
    let mut a = only(Rule::CollapseRankme);
    let healthy = result("r", 1, "h", Ok(metrics(&[(Metric::Rankme, 90.0)])));
    let collapsed = result("r", 1, "z", Ok(metrics(&[(Metric::Rankme, 1.0)])));
    assert!(a.on_result(&healthy).is_empty());
    let fired = a.on_result(&collapsed);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].layer.as_deref(), Some("z"));
    // h recovering says nothing about z.
    assert!(a.on_result(&healthy).is_empty());
    assert_eq!(a.active().count(), 1);
}

#[test]
fn a_user_rule_with_a_step_applies_from_that_step_on() {
    let rule = Rule::parse("probe_acc<0.5@20").unwrap();
    let p = |x| [(Metric::ProbeAcc, x)];
    let mut a = only(rule);
    assert!(a.on_result(&ok(10, &p(0.1))).is_empty(), "before step 20");
    let fired = a.on_result(&ok(20, &p(0.4)));
    assert_eq!(rules(&fired), [(20, "user:probe_acc<0.5@20")]);
    assert_eq!(fired[0].value, Some(0.4));
    assert_eq!(fired[0].threshold, Some(0.5));
    assert!(a.on_result(&ok(30, &p(0.45))).is_empty(), "once");
    assert!(a.on_result(&ok(40, &p(0.5))).is_empty(), "0.5 meets it");
    assert_eq!(a.active().count(), 0);

    // Without @STEP it applies at every milestone; > compares the other way.
    let mut b = only(Rule::parse("silhouette>0.9").unwrap());
    assert!(b.on_result(&ok(1, &[(Metric::Silhouette, 0.9)])).is_empty());
    let fired = b.on_result(&ok(2, &[(Metric::Silhouette, 0.95)]));
    assert_eq!(rules(&fired), [(2, "user:silhouette>0.9")]);
    // A milestone without the metric (no labels, say) changes nothing.
    assert!(b.on_result(&ok(3, &[])).is_empty());
    assert_eq!(b.active().count(), 1);
}

#[test]
fn a_late_older_result_never_decides_a_by_step_rule() {
    let p = |x| [(Metric::ProbeAcc, x)];
    let mut a = only(Rule::parse("probe_acc<0.5@20").unwrap());
    assert!(a.on_result(&ok(30, &p(0.6))).is_empty());
    // Step 20 (below 0.5) arrives after step 30 (fine): the run is judged
    // on its newest milestone, which meets the rule.
    assert!(a.on_result(&ok(20, &p(0.4))).is_empty());
    assert_eq!(a.active().count(), 0);

    // History rules do take the late step into account, for the newest one.
    let v = |x| [(Metric::AmiAgreement, x)];
    let mut b = only(Rule::AmiCollapse);
    assert!(b.on_result(&ok(5, &v(0.01))).is_empty(), "no earlier peak");
    let fired = b.on_result(&ok(3, &v(0.3)));
    assert_eq!(
        rules(&fired),
        [(5, "ami_collapse")],
        "about the newest step"
    );
}

#[test]
fn removing_a_milestone_or_a_run_drops_its_state() {
    let r = |x| [(Metric::Rankme, x)];
    let mut a = only(Rule::CollapseRankme);
    a.on_result(&ok(1, &r(90.0)));
    assert_eq!(a.on_result(&ok(2, &r(1.0))).len(), 1);
    let gone = EngineEvent::MilestoneRemoved {
        run: "r".into(),
        step: 2,
    };
    assert!(a.on_event(&gone).is_empty());
    assert_eq!(a.active().count(), 0, "the alert of the removed step");

    let e = |x| [(Metric::EntropyBits, x)];
    let mut b = only(Rule::EntropyCollapse);
    b.on_result(&ok(1, &e(5.0)));
    assert_eq!(b.on_result(&ok(2, &e(0.1))).len(), 1);
    b.on_event(&EngineEvent::RunRemoved { run: "r".into() });
    assert_eq!(b.active().count(), 0);
    // A run of the same name starts afresh: no peak of 5 bits to fall from.
    assert!(b.on_result(&ok(3, &e(0.1))).is_empty());
}

fn stale_alerts(after: Duration) -> Alerts {
    Alerts::new(AlertConfig {
        rules: vec![Rule::Stale],
        stale_after: after,
    })
}

fn stamped(step: u64, t: SystemTime) -> MilestoneResult {
    let mut r = ok(step, &[]);
    r.modified = Some(t);
    r
}

#[test]
fn a_live_run_goes_stale_once_and_recovers_with_a_new_milestone() {
    let min = |m: u64| Duration::from_secs(60 * m);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut a = stale_alerts(min(30));
    a.on_result(&stamped(10, t0));
    assert!(a.tick(t0 + min(1)).is_empty(), "live");
    assert!(a.tick(t0 + min(30)).is_empty(), "at the limit");
    let fired = a.tick(t0 + min(31));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].rule, "stale");
    assert_eq!(fired[0].layer, None);
    assert_eq!(fired[0].step, Some(10));
    assert_eq!(fired[0].value, Some(31.0 * 60.0));
    assert_eq!(fired[0].threshold, Some(30.0 * 60.0));
    assert!(
        fired[0].message.contains("31.0 min"),
        "{}",
        fired[0].message
    );
    assert!(a.tick(t0 + min(40)).is_empty(), "once");
    assert_eq!(a.active().count(), 1);

    a.on_result(&stamped(20, t0 + min(41)));
    assert!(a.tick(t0 + min(42)).is_empty());
    assert_eq!(a.active().count(), 0, "a new milestone clears it");
    assert_eq!(a.tick(t0 + min(72)).len(), 1, "and it may fire again");
}

#[test]
fn a_run_that_was_never_live_while_watched_is_not_stale() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut a = stale_alerts(Duration::from_secs(1800));
    a.on_result(&stamped(10, t0));
    // Watching starts two hours after the last milestone: a finished run.
    assert!(a.tick(t0 + Duration::from_secs(7200)).is_empty());
    assert!(a.tick(t0 + Duration::from_secs(9000)).is_empty());
    // A file stamped in the future (clock skew) counts as new.
    let mut b = stale_alerts(Duration::from_secs(60));
    b.on_result(&stamped(1, t0 + Duration::from_secs(600)));
    assert!(b.tick(t0).is_empty());
    assert_eq!(b.tick(t0 + Duration::from_secs(700)).len(), 1);
    // Results without a file time never make a run stale.
    let mut c = stale_alerts(Duration::from_secs(60));
    c.on_result(&ok(1, &[]));
    assert!(c.tick(t0).is_empty());
    assert!(c.tick(t0 + Duration::from_secs(7200)).is_empty());
}

#[test]
fn the_stale_rule_off_means_no_ticks_and_no_stale_alerts() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut a = Alerts::new(AlertConfig::default().without_stale());
    assert_eq!(a.tick_interval(), None);
    a.on_result(&stamped(1, t0));
    a.tick(t0);
    assert!(a.tick(t0 + Duration::from_secs(7200)).is_empty());
    let b = stale_alerts(Duration::from_secs(2));
    assert_eq!(b.tick_interval(), Some(Duration::from_millis(500)));
    assert_eq!(
        Alerts::new(AlertConfig::default()).tick_interval(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn rules_parse_into_stable_keys() {
    assert_eq!(
        Rule::parse("probe_acc<0.5@20"),
        Ok(Rule::User {
            metric: Metric::ProbeAcc,
            op: Op::Below,
            value: 0.5,
            from_step: Some(20),
        })
    );
    assert_eq!(
        Rule::parse(" rankme > 10 ").map(|r| r.key()),
        Ok("user:rankme>10".to_string())
    );
    assert_eq!(
        Rule::parse("probe_acc<0.50@ 20").map(|r| r.key()),
        Ok("user:probe_acc<0.5@20".to_string())
    );
    let keys: Vec<String> = Rule::BUILT_IN.iter().map(Rule::key).collect();
    assert_eq!(
        keys,
        [
            "divergence",
            "collapse_rankme",
            "collapse_spectrum",
            "entropy_collapse",
            "ami_collapse",
            "stale"
        ]
    );
}

#[test]
fn bad_rules_name_the_problem_the_form_and_the_metric_keys() {
    let problem = |s: &str| Rule::parse(s).unwrap_err().problem;
    assert_eq!(problem("probe_acc=0.5"), ParseProblem::NoOperator);
    assert_eq!(problem("0<probe_acc<1"), ParseProblem::SeveralOperators);
    assert_eq!(
        problem("accuracy<0.5"),
        ParseProblem::UnknownMetric("accuracy".into())
    );
    assert_eq!(
        problem("probe_acc<=0.5"),
        ParseProblem::BadValue("=0.5".into())
    );
    assert_eq!(
        problem("probe_acc<nan"),
        ParseProblem::BadValue("nan".into())
    );
    assert_eq!(
        problem("probe_acc<inf"),
        ParseProblem::BadValue("inf".into())
    );
    assert_eq!(
        problem("probe_acc<0.5@-1"),
        ParseProblem::BadStep("-1".into())
    );
    assert_eq!(problem("probe_acc<0.5@"), ParseProblem::BadStep("".into()));
    let text = Rule::parse("accuracy<0.5").unwrap_err().to_string();
    assert!(
        text.starts_with("'accuracy<0.5': unknown metric 'accuracy'"),
        "{text}"
    );
    assert!(text.contains("METRIC<VALUE[@STEP]"), "{text}");
    for m in Metric::ALL {
        assert!(text.contains(m.key()), "{text} lacks {m}");
    }
}

#[test]
fn durations_read_in_seconds_minutes_or_hours() {
    assert_eq!(duration_text(Duration::from_secs(45)), "45 s");
    assert_eq!(duration_text(Duration::from_secs(1890)), "31.5 min");
    assert_eq!(duration_text(Duration::from_secs(7200)), "2.0 h");
}
