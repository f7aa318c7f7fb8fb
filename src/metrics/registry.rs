//! The metric registry: one table of every per-layer metric sslwatch
//! reports. `compute_layer` fills a [`Values`] by [`Metric`]; the report's
//! table, CSV, JSON and Markdown columns, `sslwatch metrics`, the
//! correlations with probe accuracy, the TUI's grid, compare and detail
//! views and the cache key all read this table instead of naming metrics.
//!
//! # Adding a metric
//! 1. Its compute function in its own file under `src/metrics/` (pure, over
//!    an `ArrayView2<f32>`), with hand-computed unit tests there and a
//!    numpy/scipy reference test in `tests/reference_*.rs`.
//! 2. One row in the `registry!` table below.
//! 3. One line in [`super::compute_layer`] that sets its value
//!    (`values.set(Metric::Name, v)`).
//! 4. Its definition in the README's "Metric definitions".
//!
//! Changing how an existing metric is computed: bump its row's `rev`. The
//! cache key hashes every row's key and `rev` ([`fingerprint`]), so a new or
//! changed metric is recomputed by itself.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which way a metric improves (the detail view's arrows; alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// No direction is better in general (entropy falls for contrastive
    /// methods and rises for SimSiam; alpha-ReQ is best near 1).
    Neither,
}

/// Where a metric appears by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A column of the TUI's grid (and a metric the compare view cycles).
    Grid,
    /// A column of `report`'s table and Markdown rows and `metrics`' table.
    Table,
    /// Correlated with probe accuracy in summaries, the TUI detail and `study`.
    Correlate,
}

/// One row of the registry.
#[derive(Debug)]
pub struct MetricDef {
    pub metric: Metric,
    /// The name in JSON, CSV, the cache and `--metrics`-style lists.
    pub key: &'static str,
    /// The name people read (TUI, summaries).
    pub label: &'static str,
    /// The table column heading.
    pub short: &'static str,
    /// Unit shown after values in the detail view ("" for none).
    pub unit: &'static str,
    /// Needs `labels.npy`.
    pub needs_labels: bool,
    pub better: Better,
    pub views: &'static [View],
    /// Bumped when the computation changes (invalidates cached values).
    pub rev: u32,
    /// One line on what it measures (the TUI detail and help).
    pub about: &'static str,
}

impl MetricDef {
    pub fn shown_in(&self, view: View) -> bool {
        self.views.contains(&view)
    }
}

macro_rules! registry {
    ($($variant:ident => { $($field:ident: $value:expr),* $(,)? }),* $(,)?) => {
        /// A metric sslwatch reports per layer; one per registry row, in
        /// display order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric { $($variant),* }

        impl Metric {
            /// Every metric, in display order.
            pub const ALL: [Metric; [$(Metric::$variant),*].len()] = [$(Metric::$variant),*];
        }

        static REGISTRY: [MetricDef; Metric::ALL.len()] = [
            $(MetricDef { metric: Metric::$variant, $($field: $value),* }),*
        ];
    };
}

use View::{Correlate, Grid, Table};

registry! {
    EntropyBits => {
        key: "entropy_bits", label: "entropy", short: "entropy", unit: "bits",
        needs_labels: false, better: Better::Neither, views: &[Grid, Table, Correlate], rev: 3,
        about: "entropy of the embeddings (--entropy estimator)",
    },
    Silhouette => {
        key: "silhouette", label: "silhouette", short: "silh", unit: "",
        needs_labels: false, better: Better::Higher, views: &[Grid, Table, Correlate], rev: 1,
        about: "k-means clustering quality (cosine silhouette)",
    },
    AmiAgreement => {
        key: "ami_agreement", label: "AMI agree", short: "ami_agr", unit: "",
        needs_labels: false, better: Better::Higher, views: &[Grid, Table, Correlate], rev: 1,
        about: "agreement of two k-means clusterings with different seeds",
    },
    ProbeAcc => {
        key: "probe_acc", label: "probe acc", short: "probe", unit: "",
        needs_labels: true, better: Better::Higher, views: &[Grid, Table], rev: 1,
        about: "linear probe test accuracy",
    },
    Rankme => {
        key: "rankme", label: "RankMe", short: "rankme", unit: "",
        needs_labels: false, better: Better::Higher, views: &[Grid, Table, Correlate], rev: 1,
        about: "effective rank of the embedding matrix",
    },
    AmiLabels => {
        key: "ami_labels", label: "AMI labels", short: "ami_lab", unit: "",
        needs_labels: true, better: Better::Higher, views: &[Grid, Table], rev: 1,
        about: "AMI between the k-means clustering and the labels",
    },
    KnnAcc => {
        key: "knn_acc", label: "kNN acc", short: "knn", unit: "",
        needs_labels: true, better: Better::Higher, views: &[Grid, Table], rev: 1,
        about: "k-nearest-neighbour accuracy (cosine, leave-one-out)",
    },
    AlphaReq => {
        key: "alpha_req", label: "alpha-ReQ", short: "alpha", unit: "",
        needs_labels: false, better: Better::Neither, views: &[Grid, Table, Correlate], rev: 1,
        about: "power-law decay of the covariance eigenspectrum (near 1 is best)",
    },
    Uniformity => {
        key: "uniformity", label: "uniformity", short: "unif", unit: "",
        needs_labels: false, better: Better::Lower, views: &[Grid, Table, Correlate], rev: 1,
        about: "log mean Gaussian potential of the normalised rows (lower is more uniform)",
    },
    OutlierFrac => {
        key: "outlier_frac", label: "outliers", short: "outl", unit: "",
        needs_labels: false, better: Better::Lower, views: &[Grid, Table], rev: 1,
        about: "fraction of rows far from the median row (robust z > 5)",
    },
    EntropyInliers => {
        key: "entropy_inliers", label: "entropy inl", short: "ent_inl", unit: "bits",
        needs_labels: false, better: Better::Neither, views: &[Grid, Table], rev: 1,
        about: "entropy_bits of the rows that are not outliers",
    },
    KmeansInertia => {
        key: "kmeans_inertia", label: "inertia", short: "inertia", unit: "",
        needs_labels: false, better: Better::Lower, views: &[], rev: 1,
        about: "k-means sum of squared distances to the centroids (data units)",
    },
}

impl Metric {
    /// This metric's registry row.
    pub fn def(self) -> &'static MetricDef {
        &REGISTRY[self as usize]
    }

    pub fn key(self) -> &'static str {
        self.def().key
    }

    pub fn label(self) -> &'static str {
        self.def().label
    }

    /// The metric named `key` in JSON.
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The metrics shown in `view`, in display order.
    pub fn in_view(view: View) -> impl Iterator<Item = Metric> {
        Metric::ALL
            .into_iter()
            .filter(move |m| m.def().shown_in(view))
    }
}

/// A metric is written as its key.
impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

/// The key, honouring width and alignment (`{:<14}`).
impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.key())
    }
}

/// The registry's identity for the cache key: every key and `rev`, in order.
pub fn fingerprint() -> String {
    Metric::ALL
        .iter()
        .map(|m| format!("{}:{}", m.key(), m.def().rev))
        .collect::<Vec<_>>()
        .join(",")
}

/// One value per metric (`None`: not computed, not applicable, or not
/// finite). Serialises as a flat map `key: value|null` in registry order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values([Option<f64>; Metric::ALL.len()]);

impl Default for Values {
    fn default() -> Self {
        Values([None; Metric::ALL.len()])
    }
}

impl Values {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.0[m as usize]
    }

    /// Sets `m`; a non-finite value is stored as `None` (JSON has no NaN).
    pub fn set(&mut self, m: Metric, v: Option<f64>) {
        self.0[m as usize] = v.filter(|x| x.is_finite());
    }

    /// Values from (metric, value) pairs; the rest `None`.
    pub fn of(pairs: impl IntoIterator<Item = (Metric, Option<f64>)>) -> Values {
        let mut v = Values::default();
        for (m, x) in pairs {
            v.set(m, x);
        }
        v
    }

    /// Every metric with its value, in display order.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, Option<f64>)> + '_ {
        Metric::ALL.into_iter().map(|m| (m, self.get(m)))
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Metric::ALL.len()))?;
        for (m, v) in self.iter() {
            map.serialize_entry(m.key(), &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of metric values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Values, A::Error> {
                let mut out = Values::default();
                while let Some(key) = map.next_key::<String>()? {
                    match Metric::from_key(&key) {
                        Some(m) => out.set(m, map.next_value::<Option<f64>>()?),
                        // Other fields of the enclosing struct, or metrics
                        // of another version: not ours.
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rows_are_in_enum_order_with_unique_names() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(REGISTRY[i].metric, *m);
            assert_eq!(*m as usize, i);
        }
        let keys: HashSet<_> = Metric::ALL.iter().map(|m| m.key()).collect();
        let shorts: HashSet<_> = Metric::ALL.iter().map(|m| m.def().short).collect();
        let labels: HashSet<_> = Metric::ALL.iter().map(|m| m.label()).collect();
        assert_eq!(keys.len(), Metric::ALL.len());
        assert_eq!(shorts.len(), Metric::ALL.len());
        assert_eq!(labels.len(), Metric::ALL.len());
        assert_eq!(Metric::from_key("alpha_req"), Some(Metric::AlphaReq));
        assert_eq!(Metric::from_key("nope"), None);
    }

    #[test]
    fn labelled_metrics_are_never_correlated_with_the_probe() {
        for m in Metric::in_view(View::Correlate) {
            assert!(!m.def().needs_labels, "{m}");
        }
    }

    #[test]
    fn values_round_trip_as_a_flat_map_and_drop_non_finite() {
        let mut v = Values::default();
        v.set(Metric::Silhouette, Some(0.25));
        v.set(Metric::Rankme, Some(f64::NAN));
        let json = serde_json::to_value(v).expect("json");
        assert_eq!(json["silhouette"], 0.25);
        assert!(json["rankme"].is_null());
        assert!(json["alpha_req"].is_null());
        assert_eq!(json.as_object().map(|o| o.len()), Some(Metric::ALL.len()));
        let back: Values = serde_json::from_value(json).expect("back");
        assert_eq!(back, v);
        // Unknown keys (other struct fields, older metrics) are ignored.
        let back: Values =
            serde_json::from_str(r#"{"silhouette": 0.5, "n": 3, "gone": [1]}"#).expect("parse");
        assert_eq!(back.get(Metric::Silhouette), Some(0.5));
        assert_eq!(back.get(Metric::EntropyBits), None);
    }

    #[test]
    fn the_fingerprint_names_every_key_and_rev_in_order() {
        let f = fingerprint();
        assert!(f.starts_with("entropy_bits:3,silhouette:1,"), "{f}");
        assert_eq!(f.split(',').count(), Metric::ALL.len());
    }
}
