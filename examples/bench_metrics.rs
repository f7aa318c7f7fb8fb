//! Times the metric set on an embedding file (used by `scripts/bench-metrics.sh`,
//! which also times scikit-learn on the same file and prints the ratio).
//!
//! Usage: bench_metrics X.npy LABELS.npy [REPEATS]
//! Prints one JSON object: medians in seconds and peak resident memory.

use sslwatch::metrics::{
    ami, compute_layer, entropy, kmeans, knn, probe, rank, second_seed, silhouette, MetricSettings,
};
use std::path::PathBuf;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    // As the sslwatch binary does at start-up.
    sslwatch::memory::configure_allocator();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: bench_metrics X.npy LABELS.npy [REPEATS]"
    );
    let reps: usize = args.get(3).map_or(Ok(5), |r| r.parse())?;
    let layers = sslwatch::read::read_embeddings(&PathBuf::from(&args[1]))?;
    let labels = sslwatch::read::read_labels(&PathBuf::from(&args[2]), u64::MAX)?;
    let x = layers
        .first()
        .ok_or_else(|| anyhow::anyhow!("no layer"))?
        .data
        .view();
    let s = MetricSettings::default();
    let k = labels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    let params = |seed| kmeans::KMeansParams {
        k,
        n_init: s.n_init,
        max_iter: s.max_iter,
        seed,
    };

    let mut cols: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for _ in 0..reps {
        // Both clusterings in one batch, as `compute_layer` makes them.
        let ([c1, c2], t_k) =
            time(|| kmeans::kmeans_many(x, &[params(s.seed), params(second_seed(s.seed))]));
        let (_, t_sil) =
            time(|| silhouette::silhouette_score(x, &c1.labels, s.silhouette_sample, s.seed));
        let a: Vec<i64> = c1.labels.iter().map(|&v| i64::from(v)).collect();
        let b: Vec<i64> = c2.labels.iter().map(|&v| i64::from(v)).collect();
        let (_, t_ami) = time(|| ami::adjusted_mutual_info(&a, &b));
        let (_, t_ent) = time(|| entropy::hist_entropy_bits(x, s.entropy_bins));
        let (_, t_rank) = time(|| rank::rankme(x));
        let (_, t_amil) = time(|| ami::adjusted_mutual_info(&a, &labels));
        let (_, t_probe) = time(|| probe::probe_accuracy(x, &labels, s.seed));
        let (_, t_knn) = time(|| knn::knn_accuracy(x, &labels, s.knn_k));
        let (_, t_all) = time(|| compute_layer(x, Some(&labels), &s));
        let label_free = t_k + t_sil + t_ami + t_ent + t_rank;
        for (name, v) in [
            ("kmeans_x2", t_k),
            ("silhouette", t_sil),
            ("ami_agreement", t_ami),
            ("entropy_hist", t_ent),
            ("rankme", t_rank),
            ("ami_labels", t_amil),
            ("probe", t_probe),
            ("knn", t_knn),
            ("label_free", label_free),
            ("label_free_plus_probe", label_free + t_amil + t_probe),
            ("compute_layer_all", t_all),
        ] {
            cols.entry(name).or_default().push(v);
        }
    }
    let mut out = serde_json::Map::new();
    for (name, v) in cols {
        out.insert(name.into(), median(v).into());
    }
    out.insert("peak_rss_mib".into(), peak_rss_mib().into());
    out.insert("threads".into(), rayon::current_num_threads().into());
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
