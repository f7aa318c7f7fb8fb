//! The alert flags every command that runs the engine shares (`report`,
//! `watch`): flattened into [`super::report::EngineArgs`].

use super::UsageError;
use sslwatch::alerts::{AlertConfig, Rule};
use std::time::Duration;

/// `--stale-after` bounds, in seconds (1 s to 30 days).
const STALE_RANGE: (f64, f64) = (1.0, 30.0 * 86_400.0);

#[derive(clap::Args, Debug, Clone)]
pub struct AlertArgs {
    /// Add an alert rule METRIC<VALUE[@STEP] or METRIC>VALUE[@STEP]
    /// (repeatable; METRIC is a metric key): 'probe_acc<0.5@20' fires at the
    /// first milestone from step 20 on whose probe_acc is below 0.5.
    #[arg(long = "alert", value_name = "RULE")]
    pub alert: Vec<String>,
    /// A run that was live (a milestone younger than this while watched)
    /// and then has no new milestone for this long is stale: seconds, or
    /// with an s, m or h suffix (90, 45m, 2h).
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub stale_after: String,
    /// Turn the built-in alert rules off (divergence, collapse, entropy and
    /// AMI collapse, stale); --alert rules still apply.
    #[arg(long)]
    pub no_alerts: bool,
}

/// `90`, `90s`, `45m`, `2h`, `1.5h` as a duration.
fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        _ => (t, 1.0),
    };
    let v: f64 = number.trim().parse().ok()?;
    let secs = v * unit;
    let (lo, hi) = STALE_RANGE;
    (secs.is_finite() && (lo..=hi).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

impl AlertArgs {
    /// The checked rules: the built-ins (unless `--no-alerts`), then each
    /// `--alert` in order. A bad rule or duration exits 2.
    pub fn config(&self) -> Result<AlertConfig, UsageError> {
        let stale_after = parse_duration(&self.stale_after).ok_or_else(|| {
            UsageError(format!(
                "--stale-after {}: give seconds, or a number with s, m or h (90, 45m, 2h), between 1 s and 30 days",
                self.stale_after
            ))
        })?;
        let mut rules = if self.no_alerts {
            Vec::new()
        } else {
            Rule::BUILT_IN.to_vec()
        };
        for text in &self.alert {
            let rule = Rule::parse(text).map_err(|e| UsageError(format!("--alert {e}")))?;
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        Ok(AlertConfig { rules, stale_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(alert: &[&str], stale_after: &str, no_alerts: bool) -> AlertArgs {
        AlertArgs {
            alert: alert.iter().map(|s| s.to_string()).collect(),
            stale_after: stale_after.into(),
            no_alerts,
        }
    }

    #[test]
    fn stale_after_takes_seconds_or_a_unit_suffix() {
        let d = |s| parse_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("90"), Some(90.0));
        assert_eq!(d("90s"), Some(90.0));
        assert_eq!(d("45m"), Some(2700.0));
        assert_eq!(d("1.5h"), Some(5400.0));
        assert_eq!(d("0.5"), None, "below 1 s");
        assert_eq!(d("31d"), None);
        assert_eq!(d("-5m"), None);
        assert_eq!(d("m"), None);
        assert_eq!(d("nan"), None);
        let err = args(&[], "soon", false).config().unwrap_err().0;
        assert!(err.starts_with("--stale-after soon:"), "{err}");
    }

    #[test]
    fn no_alerts_keeps_only_the_users_rules() {
        let all = args(&["rankme<5"], "30m", false).config().unwrap();
        assert_eq!(all.rules.len(), Rule::BUILT_IN.len() + 1);
        assert_eq!(all.stale_after, Duration::from_secs(1800));
        let mine = args(&["rankme<5", "rankme<5"], "2h", true)
            .config()
            .unwrap();
        assert_eq!(mine.rules.len(), 1, "{:?}", mine.rules);
        assert_eq!(mine.rules[0].key(), "user:rankme<5");
        let err = args(&["rankme"], "30m", false).config().unwrap_err().0;
        assert!(err.starts_with("--alert 'rankme': no < or >"), "{err}");
    }
}
