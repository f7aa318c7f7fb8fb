//! How much memory `compute_layer` needs, before the data is read.
//!
//! [`working_set_bytes`] is an upper bound of the heap `compute_layer`
//! allocates at its peak for an n x d f32 matrix, the matrix itself not
//! counted. It follows the code phase by phase: what lives through the whole
//! call (the copy of the finite, rescaled rows, the labels, the cluster ids),
//! plus the largest of the phases (k-means of both clusterings, silhouette,
//! AMI, entropy, RankMe, probe, kNN accuracy). Per-thread scratch is counted
//! per worker: the parallel passes whose buffers scale with the threads keep
//! at most `rayon::current_num_threads()` of them (module `workers`, and
//! `linalg`'s one part per thread). GEMM packing buffers (the `gemm` crate's
//! per-thread L2 slab, matrixmultiply's per-call panels) get a per-thread
//! allowance. `tests/memory_budget.rs` checks the bound against a counting
//! allocator.
//!
//! Sizes are computed in f64 (exact far beyond any real matrix) and rounded
//! up; an estimate too large for u64 saturates.

use super::pairwise::block_rows;
use super::{
    entropy, kmeans, knn, linalg, probe, resolve_k, silhouette, EntropyEstimator, MetricSettings,
};

const F32: f64 = 4.0;
const F64: f64 = 8.0;
const USIZE: f64 = std::mem::size_of::<usize>() as f64;

/// GEMM panels per thread and call: matrixmultiply packs up to
/// 256 x (64 + 1024) f32 (1.1 MiB); the `gemm` crate packs a right-hand
/// side per call.
const GEMM_PANELS: f64 = 1.25 * 1024.0 * 1024.0;

/// Fixed slack: rayon's job deques, hash-map growth, warnings, small vectors.
const SLACK: f64 = 256.0 * 1024.0;

/// Upper bound (bytes) of the extra heap [`super::compute_layer`] allocates
/// at its peak for an `n` x `d` f32 matrix (the matrix not included), with
/// the machine's rayon thread count.
///
/// `label_classes` is the number of distinct labels when labels will be
/// given (it sets k when `settings.k` is None, and the probe's size), `None`
/// without labels. A caller that knows labels are coming but not how many
/// distinct values they hold can pass `Some(n)`, the worst case (a loose
/// bound: the probe's parameters grow with the classes).
///
/// The bound assumes the worst about what the data holds: the copy of the
/// finite, rescaled rows is always counted (the file is not read yet), and
/// the silhouette table is counted at its largest.
pub fn working_set_bytes(
    n: usize,
    d: usize,
    label_classes: Option<usize>,
    settings: &MetricSettings,
) -> u64 {
    if n == 0 || d == 0 {
        return 0;
    }
    let threads = rayon::current_num_threads().max(1) as f64;
    let (k, _) = resolve_k(settings, n, label_classes.map(|c| c.min(n)));
    let labelled = label_classes.is_some();
    let (nf, df, kf) = (n as f64, d as f64, k as f64);

    // Alive through the whole call: the scan's finite flags, the copy of the
    // finite rows (and the row list it was made from), the labels of the
    // finite rows, both clusterings' ids and centroids, and c1's ids as i64.
    let copy = nf * df * F32 + nf * USIZE + nf;
    let labels = if labelled { nf * 8.0 } else { 0.0 };
    let clusters = 2.0 * (nf * 4.0 + kf * df * F32) + nf * 8.0;
    let held = copy + labels;
    let held_after_kmeans = held + clusters;

    let scan = nf * 4.0 + nf;
    let phases = [
        scan,
        kmeans_bytes(n, d, k, settings.n_init.max(1), threads),
        silhouette_bytes(n, d, k, settings.silhouette_sample, threads),
        ami_bytes(n, n) + nf * 8.0,
        entropy_bytes(n, d, settings, threads),
        gram_bytes(d, threads),
        // The covariance spectrum (with the map's axes), then the outliers
        // with the entropy of the inlier rows, then uniformity.
        // With N >= D RankMe's uncentred Gram is centred in place (one
        // matrix, made in the Gram phase) beside the eigensolver's workspace.
        spectrum_phase(n, d, threads),
        super::outliers::working_set_bytes(n, d, threads as usize) as f64
            + entropy_bytes(n, d, settings, threads),
        super::uniformity::working_set_bytes(n, d, settings.uniformity_sample, threads as usize)
            as f64,
        if labelled {
            let classes = label_classes.unwrap_or(n).clamp(1, n);
            ami_bytes(n, classes)
                .max(probe_bytes(n, d, classes, threads))
                .max(knn_accuracy_bytes(
                    n,
                    d,
                    settings.knn_k,
                    settings.knn_sample,
                    threads,
                ))
        } else {
            0.0
        },
    ];
    // k-means runs before the clusterings exist; every later phase has them.
    let peak = phases
        .iter()
        .enumerate()
        .map(|(i, &p)| match i {
            0 | 1 => held + p,
            _ => held_after_kmeans + p,
        })
        .fold(0.0, f64::max);
    // Each thread, and the calling one (the eigensolver runs there), keeps
    // GEMM buffers for the thread's lifetime: `gemm`'s L2 slab and
    // private-gemm-x86's two L3-sized arenas (64 MiB with a 32 MiB L3), made
    // on a thread's first product and never freed. They are address space
    // reserved once per thread, not a milestone's working set: pages are only
    // touched as far as the packed operands reach, which is counted here
    // (twice the largest operand a thread packs), with the per-call panels.
    let packed = (n_init_runs(settings) * kf * df * F32)
        .max(block_rows(d) as f64 * df * F32)
        .max(linalg::ROW_BLOCK as f64 * df * F64);
    let eigen_packed = df * df * F64;
    let gemm = threads * (2.0 * packed + GEMM_PANELS) + 2.0 * eigen_packed + GEMM_PANELS;
    let total = peak + gemm + SLACK;
    total.ceil().min(u64::MAX as f64) as u64
}

/// The covariance spectrum with the map's axes: with N >= D from the
/// Gram RankMe used (centred in place: the matrix, the column means per
/// thread, the eigensolver's copy, vectors and workspace as
/// `spectrum::working_set_bytes` counts them); with N < D from the row Gram
/// it makes itself. Then the map's sampled rows.
fn spectrum_phase(n: usize, d: usize, threads: f64) -> f64 {
    let (nf, df) = (n as f64, d as f64);
    if n < d {
        return super::spectrum::working_set_bytes(n, d, threads as usize) as f64 + nf * 8.0;
    }
    let mat = df * (df / 8.0).ceil() * 8.0 * F64;
    let means = (threads + 1.0) * df * F64;
    let eigen = 5.0 * mat + 64.0 * df * F64;
    means + mat + eigen + 2.0 * df * F64 + nf * 8.0
}

/// Runs of both clusterings together.
fn n_init_runs(settings: &MetricSettings) -> f64 {
    2.0 * settings.n_init.max(1) as f64
}

/// Column-sum partials of `Centered::gather` over `m` rows (one per row block).
fn centred_copy(m: f64, d: usize) -> f64 {
    let df = d as f64;
    let blocks = (m / block_rows(d) as f64).ceil();
    m * df * F32 + m * F32 + df * F32 + blocks * df * F64
}

/// Both clusterings (2 x n_init runs of one k) stepped together.
fn kmeans_bytes(n: usize, d: usize, k: usize, n_init: usize, threads: f64) -> f64 {
    let (nf, df, kf) = (n as f64, d as f64, k as f64);
    let runs = 2.0 * n_init as f64;
    let b = block_rows(d) as f64;
    let blocks = (nf / b).ceil();
    // The rows are centred a block at a time (`CentredRows`): the mean, its
    // per-block partial sums, the norms, and the block buffers of the
    // passes (rayon's `map_init` state lives while its job runs, and a job
    // never waits on another inside: at most one per thread).
    let buffers = threads.min(blocks) * b * df * F32;
    let data = nf * F32 + df * F32 + blocks * df * F64 + buffers;

    // Greedy k-means++: all runs' candidates scored in one pass.
    let trials = 2.0 + kf.ln().floor();
    let cands = runs * trials;
    let plusplus = runs * kf * USIZE       // chosen ids
        + runs * nf * F32 * 2.0            // closest distances, and a new column
        + nf * F64                          // cumulative potential
        + cands * (df * F32 + USIZE + F32) // candidate rows, ids, norms
        + nf * cands * F32                 // distances to every candidate
        + blocks * cands * F64             // per-block potentials
        + runs * kf * df * F32; // the initial centroids

    // Lloyd: each run's centroids (and the next ones), labels, bounds,
    // fixed-point sums and last distances; a pass's concatenated centroids,
    // its chunks' outputs (labels and two distances per row, sums per run)
    // and their concatenation, each thread's block buffers, the rows each
    // run must read, and an update (the farthest-first order of an empty
    // cluster and its f64 sums).
    let w = runs * kf;
    let chunks = threads * kmeans::CHUNKS_PER_THREAD as f64;
    let outputs =
        2.0 * runs * nf * (4.0 + 2.0 * F32) + (chunks + 1.0) * runs * kf * (df + 1.0) * 8.0;
    let lloyd = runs * (kf * df * F32 * 2.0 + nf * (4.0 + 2.0 * F64 + F32) + kf * (df + 1.0) * 8.0)
        + w * (df + 1.0) * F32
        + outputs
        + threads * (b * df * F32 + b * w * F32 + df * 8.0)
        + runs * (nf / 2.0 + 1.0) * USIZE
        + nf * USIZE
        + kf * df * F64
        + df * F32;
    data + plusplus.max(lloyd) + threads * w * df * F32
}

/// Silhouette of `min(n, sample)` rows over k clusters.
fn silhouette_bytes(n: usize, d: usize, k: usize, sample: usize, threads: f64) -> f64 {
    let m = n.min(sample.max(1));
    let (mf, kf, df) = (m as f64, k as f64, d as f64);
    let block = silhouette::BLOCK as f64;
    let blocks = (mf / block).ceil();
    let rows = mf * USIZE + mf * 4.0 + kf * 16.0 + nf_index(m);
    let data = centred_copy(mf, d);
    let table_bytes = mf * kf * F64;
    let work = if table_bytes <= silhouette::TABLE_BYTES as f64 {
        let pairs = blocks * (blocks + 1.0) / 2.0 * 16.0;
        // Per worker: a block of distances, its row and column sums.
        let per_worker = block * block * F32 + 2.0 * block * kf.min(block) * F64;
        table_bytes + pairs + threads * per_worker + mf * F64
    } else {
        // Per worker: distances and three numbers per row; results held twice.
        let per_worker = block * block * F32 + 3.0 * block * F64;
        threads * per_worker + 3.0 * mf * F64 + blocks * 32.0
    };
    rows + data + work + threads * block * df * F32
}

/// The sample's row ids while they are drawn (rand's index sample keeps a
/// set when it samples few of many).
fn nf_index(m: usize) -> f64 {
    m as f64 * 16.0
}

/// AMI of an n-row labeling with at most `classes` clusters against the
/// clustering: dense ids, cluster-size maps, the sorted contingency keys,
/// ln k! for k <= n.
fn ami_bytes(n: usize, classes: usize) -> f64 {
    let (nf, cf) = (n as f64, classes as f64);
    // A std HashMap of (i64, u32) holds at most 8/7 slack and doubles: 4x.
    let maps = 4.0 * (cf * 24.0);
    2.0 * nf * 4.0 + maps + 2.0 * cf * 8.0 + nf * 8.0 + (nf + 1.0) * F64 + 4.0 * cf * 16.0
}

fn entropy_bytes(n: usize, d: usize, settings: &MetricSettings, threads: f64) -> f64 {
    let (nf, df) = (n as f64, d as f64);
    match settings.entropy {
        EntropyEstimator::Hist => {
            let bins = settings.entropy_bins.max(1) as f64;
            let workers = threads.min((nf / entropy::ROW_BLOCK as f64).ceil());
            let ranges = (workers + 1.0) * 2.0 * df * F32 + 2.0 * df * F64;
            let counts = (workers + 1.0) * (df * bins * 8.0 + df * USIZE);
            ranges + counts
        }
        EntropyEstimator::Gauss => {
            let means = (threads + 1.0) * df * F64;
            means + gram_bytes(d, threads)
        }
        EntropyEstimator::Knn => {
            let k = 3usize.min(n.saturating_sub(1)).max(1);
            let m = n.min(settings.knn_sample.max(1));
            let search = if m == n {
                top_k_bytes(n, d, k, threads)
            } else {
                query_search_bytes(n, d, k, m, threads)
            };
            nf * F32 + search + m as f64 * F64
        }
    }
}

/// A d x d f64 Gram matrix per thread plus their sum (`linalg::gram_lower`),
/// then the eigensolver's copy and workspace.
fn gram_bytes(d: usize, threads: f64) -> f64 {
    let df = d as f64;
    // faer pads each column to a multiple of 8 f64 (64 bytes).
    let mat = df * (df / 8.0).ceil() * 8.0 * F64;
    let parts = threads.min(1e9) * (mat + linalg::ROW_BLOCK as f64 * df * F64) + mat;
    let eigen = 3.0 * mat + 64.0 * df * F64;
    parts.max(mat + eigen)
}

/// `knn::top_k_neighbours`: the rows copied in search order (with their
/// original indices, pivot cells, squared norms and shared bounds), the
/// pivots and each block's dot products with them, one table (lists padded
/// to `knn::LIST_LANES` entries) and one similarity slab per worker, then
/// the merged table's lists.
fn top_k_bytes(n: usize, d: usize, k: usize, threads: f64) -> f64 {
    let (nf, kf, df) = (n as f64, k as f64, d as f64);
    let row_block = knn::ROW_BLOCK.min(n) as f64;
    let col_block = knn::COL_BLOCK.max(knn::ROW_BLOCK).min(n) as f64;
    let blocks = (nf / knn::ROW_BLOCK as f64).ceil();
    let workers = threads.min(blocks.max(1.0));
    let copy = nf * df * F32 + 4.0 * nf * 4.0;
    let pivots = blocks * df * F32 + blocks * (USIZE + 2.0 * F32) + nf_index(blocks as usize);
    let dots = threads * row_block * blocks * F32;
    let stride = k.next_multiple_of(knn::LIST_LANES) as f64;
    let table = nf * stride * 8.0 + 2.0 * nf * 4.0;
    let slab = row_block * col_block * F32;
    let lists = nf * kf * (4.0 + F32);
    copy + pivots + dots + blocks * USIZE + workers * (table + slab) + table + lists
}

/// `knn::top_k_of_queries` for `m` queries: the rows' norms, the sample
/// (and the set rand keeps while drawing it), per worker a query block, a
/// similarity slab and the bf16 screening's buffers, every query block's
/// top-k lists, then the lists concatenated.
fn query_search_bytes(n: usize, d: usize, k: usize, m: usize, threads: f64) -> f64 {
    let (nf, df, kf, mf) = (n as f64, d as f64, k as f64, m as f64);
    let qbu = knn::query_block(m, threads as usize);
    let qb = qbu.min(m) as f64;
    let tasks = (mf / qbu as f64).ceil().max(1.0);
    let workers = threads.min(tasks);
    let norms = nf * F64 + nf * F32;
    let sample = mf * USIZE + nf_index(m);
    let cols = knn::QUERY_COL_BLOCK.min(n) as f64;
    // Screening in bf16 adds the queries rounded (and packed in panels),
    // a column block's rows rounded, and their errors; counted whether or
    // not this processor screens.
    let words2 = (2 * crate::metrics::bf16::words(d)) as f64;
    let panels =
        (qb / crate::metrics::bf16::PANEL as f64).ceil() * crate::metrics::bf16::PANEL as f64;
    let screening =
        qb * words2 * 2.0 + panels * words2 * 2.0 + cols * words2 * 2.0 + (qb + cols) * F32;
    let per_worker = qb * df * F32 + qb * cols * F32 + screening;
    // A TopK per task: keys (score and id), lengths, k-th scores, and the struct.
    let lists = mf * kf * 8.0 + mf * 8.0 + tasks * (USIZE + 160.0);
    norms + sample + workers * per_worker + lists + mf * kf * 8.0
}

/// Leave-one-out kNN accuracy: dense classes, the neighbour search of
/// every row (n <= `knn_sample`; it holds the rows' normalised copy) or the
/// search of the sampled queries (no copy), then the votes.
fn knn_accuracy_bytes(n: usize, d: usize, knn_k: usize, knn_sample: usize, threads: f64) -> f64 {
    let nf = n as f64;
    let k = knn_k.clamp(1, n.saturating_sub(1).max(1));
    let m = n.min(knn_sample.max(1));
    let classes = nf * 8.0 + nf * 4.0;
    let search = if m == n {
        top_k_bytes(n, d, k, threads)
    } else {
        query_search_bytes(n, d, k, m, threads)
    };
    classes + search + threads * k as f64 * 16.0
}

/// The probe over `classes` classes: the split, the column statistics,
/// L-BFGS's history and vectors, the loss's per-block partial gradients and
/// per worker a standardised sub-block with its scores and residuals, then
/// the test predictions. The rows are read in place (no copy of either part).
fn probe_bytes(n: usize, d: usize, classes: usize, threads: f64) -> f64 {
    let (nf, df, cf) = (n as f64, d as f64, classes as f64);
    let split = nf * USIZE * 2.0 + nf * 8.0 + nf * 4.0 + cf * 8.0;
    let train = (1.0 - probe::TEST_FRACTION) * nf;
    let test = nf - train;
    let stats = 3.0 * df * F64;
    let params = cf * (df + 1.0) * F64;
    // History pairs (s, y) and theta, g, q, dir, trial, gt, s, y, grad.
    let lbfgs = (2.0 * probe::HISTORY as f64 + 10.0) * params + probe::HISTORY as f64 * F64;
    let block = probe::ROW_BLOCK as f64;
    let sub = probe::SUB_BLOCK as f64;
    let blocks = (train / block).ceil().max(1.0);
    let workers = threads.min(blocks);
    // Per block kept: its weight and intercept gradients; per worker while a
    // block runs: the standardised rows, scores and residuals, its gradient.
    let loss = blocks * (cf * df * F32 + cf * F64 + 64.0)
        + workers * (sub * df * F32 + 2.0 * sub * cf * F32 + cf * df * F32 + 2.0 * cf * F64)
        + cf * df * F32
        + params;
    let tasks = (test / sub).ceil().max(1.0);
    let scores = threads.min(tasks) * (sub * df * F32 + sub * cf * F32)
        + 2.0 * test * USIZE
        + tasks * 64.0
        + cf * df * F32
        + cf * F32;
    split + stats + lbfgs + loss.max(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_the_shape_and_the_labels() {
        let s = MetricSettings::default();
        let small = working_set_bytes(1000, 32, None, &s);
        let big = working_set_bytes(10_000, 512, None, &s);
        assert!(small < big);
        // At least the copy of the rows and the centred copy of k-means.
        assert!(big >= 2 * 10_000 * 512 * 4);
        assert!(working_set_bytes(10_000, 512, Some(10), &s) > big);
        assert_eq!(working_set_bytes(0, 512, None, &s), 0);
        // Huge shapes saturate instead of wrapping.
        assert!(working_set_bytes(usize::MAX / 2, 1 << 20, None, &s) > 1 << 62);
    }

    #[test]
    fn sample_id_labels_are_budgeted_with_the_capped_k() {
        // 20,000 distinct labels: k is capped at 1000, so k-means is budgeted
        // for k = 1000 (not 20,000).
        let s = MetricSettings::default();
        let capped = working_set_bytes(20_000, 64, Some(20_000), &s);
        let explicit = MetricSettings {
            k: Some(20_000),
            ..MetricSettings::default()
        };
        assert!(capped < working_set_bytes(20_000, 64, Some(20_000), &explicit));
    }
}
