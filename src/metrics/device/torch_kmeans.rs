//! k-means with its passes over the rows on the device: the algorithm of
//! [`crate::metrics::kmeans`] step for step (same run seeds, greedy
//! k-means++ draws on the host from the same ChaCha streams, Lloyd until the
//! assignment stops changing, empty clusters moved to the farthest rows,
//! best of `n_init`), with the three products (rows x k-means++ candidates,
//! rows x centroids with the argmin, per-cluster sums) on the device.
//! What decides a result stays on the host: the cumulative potentials the
//! draws search, the convergence test, the relocation of empty clusters.
//!
//! Differences from the CPU version: per-cluster sums are accumulated in
//! f64 on the device (the CPU adds f32 block partials into f64) and the
//! distance products round in another order, so centroids agree to f32
//! rounding and assignments agree except for rows within rounding of two
//! centres (tests hold them identical on separated data).

use super::torch::{download, row_blocks, rows_tensor, tch_device, upload, vector, Result};
use super::{rows_per_block, Device};
use crate::metrics::kmeans::{best_runs, finish_run, KMeansParams, KMeansResult, Run};
use crate::metrics::pairwise::{sq_norm, Centered};
use ndarray::ArrayView2;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// The centred rows and their squared norms, on the device.
struct Rows<'a> {
    host: &'a Centered,
    xs: Tensor,
    norms: Tensor,
    td: tch::Device,
}

/// [`crate::metrics::kmeans::kmeans_many`] on `dev`.
pub fn kmeans_many<const M: usize>(
    dev: Device,
    x: ArrayView2<f32>,
    ps: &[KMeansParams; M],
) -> Result<[KMeansResult; M]> {
    let (n, d) = x.dim();
    if n == 0 {
        return Ok(crate::metrics::kmeans::kmeans_many(x, ps));
    }
    let td = tch_device(dev);
    let data = Centered::new(x);
    let rows = Rows {
        host: &data,
        xs: upload(&data.data, n, d, td)?,
        norms: vector(&data.norms, td)?,
        td,
    };
    let runs = best_runs(ps, n, |k, rngs, max_iter| {
        let inits = kmeans_plusplus(&rows, k, rngs)?;
        lloyd_many(&rows, inits, k, max_iter)
    })?;
    Ok(runs.map(|(run, k)| finish_run(run, &data.mean, k, d)))
}

/// Greedy k-means++ for every run at once (the CPU module's
/// `kmeans_plusplus`): each step scores all runs' candidates in one pass on
/// the device; the draws search the potentials on the host.
fn kmeans_plusplus(rows: &Rows, k: usize, rngs: &mut [ChaCha8Rng]) -> Result<Vec<Vec<f32>>> {
    let data = rows.host;
    let n = data.n;
    let runs = rngs.len();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut chosen: Vec<Vec<usize>> = vec![Vec::with_capacity(k); runs];

    let first: Vec<usize> = rngs.iter_mut().map(|rng| rng.gen_range(0..n)).collect();
    let (dist, pots) = candidate_pass(rows, &first, None)?;
    // runs x n: each run's distance of every row to its nearest chosen centre.
    let mut closest = dist.f_tr()?.f_contiguous()?;
    let mut closest_host: Vec<f32> = download(&closest)?;
    let mut pot = pots;
    for (c, &f) in chosen.iter_mut().zip(&first) {
        c.push(f);
    }

    let mut cumsum = vec![0f64; n];
    for _ in 1..k {
        let mut cands = Vec::with_capacity(runs * trials);
        for r in 0..runs {
            let mut acc = 0f64;
            for (c, &v) in cumsum.iter_mut().zip(&closest_host[r * n..(r + 1) * n]) {
                acc += f64::from(v);
                *c = acc;
            }
            for _ in 0..trials {
                let target = rngs[r].gen::<f64>() * pot[r];
                let idx = cumsum.partition_point(|&c| c < target).min(n - 1);
                cands.push(idx);
            }
        }
        let (dist, pots) = candidate_pass(rows, &cands, Some((&closest, trials)))?;
        let mut cols = Vec::with_capacity(runs);
        for r in 0..runs {
            let block = &pots[r * trials..(r + 1) * trials];
            let mut best = 0;
            for (t, &v) in block.iter().enumerate() {
                if v < block[best] {
                    best = t;
                }
            }
            let col = r * trials + best;
            cols.push(col as i64);
            pot[r] = pots[col];
            chosen[r].push(cands[col]);
        }
        closest = dist
            .f_index_select(1, &vector(&cols, rows.td)?)?
            .f_tr()?
            .f_contiguous()?;
        closest_host = download(&closest)?;
    }

    Ok(chosen
        .iter()
        .map(|ids| {
            let mut c = Vec::with_capacity(k * data.d);
            for &i in ids {
                c.extend_from_slice(data.row(i));
            }
            c
        })
        .collect())
}

/// Squared distances of every row to the candidate rows `ids` (n x nc on
/// the device), each lowered to its run's closest distance when `closest`
/// (runs x n, candidates per run) is given, and each column's f64 total.
fn candidate_pass(
    rows: &Rows,
    ids: &[usize],
    closest: Option<(&Tensor, usize)>,
) -> Result<(Tensor, Vec<f64>)> {
    let n = rows.host.n;
    let nc = ids.len();
    let td = rows.td;
    let ids_t = vector(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), td)?;
    let cand_t = rows.xs.f_index_select(0, &ids_t)?.f_tr()?;
    let cand_norms = rows.norms.f_index_select(0, &ids_t)?.f_unsqueeze(0)?;
    let out = Tensor::f_zeros([n as i64, nc as i64], (Kind::Float, td))?;
    let mut pots = Tensor::f_zeros([nc as i64], (Kind::Double, td))?;
    // Products, distances, the closest columns and the f64 copy.
    for (s, e) in row_blocks(n, rows_per_block(20 * nc, n)) {
        let len = (e - s) as i64;
        let dots = rows.xs.f_narrow(0, s as i64, len)?.f_mm(&cand_t)?;
        let ni = rows.norms.f_narrow(0, s as i64, len)?.f_unsqueeze(1)?;
        let mut d2 = ni
            .f_add(&cand_norms)?
            .f_sub(&dots.f_mul_scalar(2.0)?)?
            .f_clamp_min(0.0)?;
        // A row's distance to itself is 0, whatever rounding says.
        let here = Tensor::f_arange_start(s as i64, e as i64, (Kind::Int64, td))?.f_unsqueeze(1)?;
        let own = here.f_eq_tensor(&ids_t.f_unsqueeze(0)?)?;
        d2 = d2.f_masked_fill(&own, 0.0)?;
        if let Some((cl, per_run)) = closest {
            let cl = cl
                .f_narrow(1, s as i64, len)?
                .f_tr()?
                .f_repeat_interleave_self_int(per_run as i64, 1, None)?;
            d2 = d2.f_minimum(&cl)?;
        }
        let _ = pots.f_add_(&d2.f_sum_dim_intlist(0, false, Kind::Double)?)?;
        let mut dst = out.f_narrow(0, s as i64, len)?;
        dst.f_copy_(&d2)?;
    }
    Ok((out, download(&pots)?))
}

/// One run's assignment (the CPU module's `Assignment`).
struct Assignment {
    labels: Vec<u32>,
    min_d2: Vec<f32>,
    sums: Vec<f64>,
    counts: Vec<u64>,
}

/// Assign every row to its nearest centroid for several runs in one pass:
/// the products and the argmin (first minimum: ties to the lower cluster
/// id, as on the CPU) on the device, and the per-cluster sums as an f64
/// product of the block's one-hot assignment with its rows.
fn assign_many(rows: &Rows, centroids: &[&[f32]], k: usize) -> Result<Vec<Assignment>> {
    let data = rows.host;
    let (n, d) = (data.n, data.d);
    let td = rows.td;
    let runs = centroids.len();
    let all: Vec<f32> = centroids.concat();
    let w = runs * k;
    let cnorms: Vec<f32> = all
        .chunks_exact(d.max(1))
        .map(|c| sq_norm(c) as f32)
        .collect();
    let ct = rows_tensor(&all, d, (0, w), td)?.f_tr()?;
    let cn = vector(&cnorms, td)?.f_unsqueeze(0)?;
    // Global cluster id of run r's cluster j is r * k + j.
    let offsets =
        Tensor::f_arange_start_step(0, w as i64, k as i64, (Kind::Int64, td))?.f_unsqueeze(0)?;
    let mut labels = vec![0u32; runs * n];
    let mut min_d2 = vec![0f32; runs * n];
    let mut sums = Tensor::f_zeros([w as i64, d as i64], (Kind::Double, td))?;
    let mut counts = Tensor::f_zeros([w as i64], (Kind::Double, td))?;
    // Products (f32), the one-hot block (f64) and the rows in f64.
    for (s, e) in row_blocks(n, rows_per_block(8 * w + 8 * w + 8 * d, n)) {
        let len = (e - s) as i64;
        let xb = rows.xs.f_narrow(0, s as i64, len)?;
        let dots = xb.f_mm(&ct)?;
        // |c|² - 2 x·c, as on the CPU; |x|² is added to the minimum only.
        let v = cn
            .f_sub(&dots.f_mul_scalar(2.0)?)?
            .f_view([len, runs as i64, k as i64])?;
        let (best_v, best) = v.f_min_dim(2, false)?;
        let ni = rows.norms.f_narrow(0, s as i64, len)?.f_unsqueeze(1)?;
        let d2 = best_v.f_add(&ni)?.f_clamp_min(0.0)?;
        let global = best.f_add(&offsets)?;
        let onehot = Tensor::f_zeros([len, w as i64], (Kind::Double, td))?
            .f_scatter_value(1, &global, 1.0)?;
        let _ = sums.f_add_(&onehot.f_tr()?.f_mm(&xb.f_to_kind(Kind::Double)?)?)?;
        let _ = counts.f_add_(&onehot.f_sum_dim_intlist(0, false, Kind::Double)?)?;
        let best: Vec<i64> = download(&best)?;
        let d2: Vec<f32> = download(&d2)?;
        for (li, (b, dd)) in best
            .chunks_exact(runs)
            .zip(d2.chunks_exact(runs))
            .enumerate()
        {
            for r in 0..runs {
                labels[r * n + s + li] = b[r] as u32;
                min_d2[r * n + s + li] = dd[r];
            }
        }
    }
    let sums: Vec<f64> = download(&sums)?;
    let counts: Vec<f64> = download(&counts)?;
    Ok((0..runs)
        .map(|r| Assignment {
            labels: labels[r * n..(r + 1) * n].to_vec(),
            min_d2: min_d2[r * n..(r + 1) * n].to_vec(),
            sums: sums[r * k * d..(r + 1) * k * d].to_vec(),
            counts: counts[r * k..(r + 1) * k]
                .iter()
                .map(|&c| c as u64)
                .collect(),
        })
        .collect())
}

/// New centroids from an assignment (the CPU module's `update`): empty
/// clusters take the rows farthest from their centroid, which leave their
/// old cluster's sum; a cluster left with no rows keeps its centroid.
fn update(data: &Centered, a: &mut Assignment, old: &[f32], k: usize) -> Vec<f32> {
    let d = data.d;
    let empty: Vec<usize> = (0..k).filter(|&j| a.counts[j] == 0).collect();
    if !empty.is_empty() {
        let mut order: Vec<usize> = (0..data.n).collect();
        order.sort_by(|&i, &j| a.min_d2[j].total_cmp(&a.min_d2[i]).then(i.cmp(&j)));
        for (&new, &far) in empty.iter().zip(&order) {
            let from = a.labels[far] as usize;
            let row = data.row(far);
            for (s, &v) in a.sums[from * d..(from + 1) * d].iter_mut().zip(row) {
                *s -= f64::from(v);
            }
            a.counts[from] -= 1;
            for (s, &v) in a.sums[new * d..(new + 1) * d].iter_mut().zip(row) {
                *s = f64::from(v);
            }
            a.counts[new] = 1;
        }
    }
    let mut c = vec![0f32; k * d];
    for j in 0..k {
        let dst = &mut c[j * d..(j + 1) * d];
        if a.counts[j] == 0 {
            dst.copy_from_slice(&old[j * d..(j + 1) * d]);
        } else {
            let inv = 1.0 / a.counts[j] as f64;
            for (o, &s) in dst.iter_mut().zip(&a.sums[j * d..(j + 1) * d]) {
                *o = (s * inv) as f32;
            }
        }
    }
    c
}

struct Lloyd {
    centroids: Vec<f32>,
    prev: Option<Vec<u32>>,
    labels: Option<Vec<u32>>,
    n_iter: usize,
    done: bool,
}

/// Lloyd iterations of every run, stepped together (the CPU module's
/// `lloyd_many`), then each run's inertia.
fn lloyd_many(rows: &Rows, inits: Vec<Vec<f32>>, k: usize, max_iter: &[usize]) -> Result<Vec<Run>> {
    let data = rows.host;
    let mut runs: Vec<Lloyd> = inits
        .into_iter()
        .map(|centroids| Lloyd {
            centroids,
            prev: None,
            labels: None,
            n_iter: 0,
            done: false,
        })
        .collect();
    loop {
        let active: Vec<usize> = (0..runs.len()).filter(|&r| !runs[r].done).collect();
        if active.is_empty() {
            break;
        }
        let cents: Vec<&[f32]> = active
            .iter()
            .map(|&r| runs[r].centroids.as_slice())
            .collect();
        let assigned = assign_many(rows, &cents, k)?;
        for (&r, mut a) in active.iter().zip(assigned) {
            let run = &mut runs[r];
            run.n_iter += 1;
            if run.prev.as_ref() == Some(&a.labels) {
                run.labels = Some(a.labels);
                run.done = true;
                continue;
            }
            run.centroids = update(data, &mut a, &run.centroids, k);
            run.prev = Some(a.labels);
            run.done = run.n_iter >= max_iter.get(r).copied().unwrap_or(1);
        }
    }
    // Runs stopped by max_iter: labels of their final centroids.
    let open: Vec<usize> = (0..runs.len())
        .filter(|&r| runs[r].labels.is_none())
        .collect();
    if !open.is_empty() {
        let cents: Vec<&[f32]> = open.iter().map(|&r| runs[r].centroids.as_slice()).collect();
        let assigned = assign_many(rows, &cents, k)?;
        for (&r, a) in open.iter().zip(assigned) {
            runs[r].labels = Some(a.labels);
        }
    }
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let labels = r.labels.unwrap_or_default();
        let inertia = inertia(rows, &labels, &r.centroids)?;
        out.push(Run {
            // Every pass reads every row on the device.
            rows_read: labels.len() * r.n_iter,
            labels,
            centroids: r.centroids,
            inertia,
            n_iter: r.n_iter,
        });
    }
    Ok(out)
}

/// Sum of squared distances of rows to their centroid, exact in f64
/// (differences in f64, as the CPU's `sq_dist`).
fn inertia(rows: &Rows, labels: &[u32], centroids: &[f32]) -> Result<f64> {
    let (n, d) = (rows.host.n, rows.host.d);
    let td = rows.td;
    let k = centroids.len() / d.max(1);
    let c = rows_tensor(centroids, d, (0, k), td)?.f_to_kind(Kind::Double)?;
    let lab = vector(
        &labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
        td,
    )?;
    let mut total = Tensor::f_zeros([1], (Kind::Double, td))?;
    // The rows in f64, their centroids and the differences.
    for (s, e) in row_blocks(n, rows_per_block(24 * d, n)) {
        let len = (e - s) as i64;
        let xb = rows
            .xs
            .f_narrow(0, s as i64, len)?
            .f_to_kind(Kind::Double)?;
        let cb = c.f_index_select(0, &lab.f_narrow(0, s as i64, len)?)?;
        let diff = xb.f_sub(&cb)?;
        let _ = total.f_add_(&diff.f_mul(&diff)?.f_sum(Kind::Double)?)?;
    }
    let v: Vec<f64> = download(&total)?;
    Ok(v.first().copied().unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::device::torch::tests::devices;
    use crate::metrics::kmeans;
    use crate::metrics::second_seed;

    fn params(k: usize, seed: u64) -> KMeansParams {
        KMeansParams {
            k,
            n_init: 3,
            max_iter: 300,
            seed,
        }
    }

    /// Blobs far apart (centres with standard deviation 3 per dimension,
    /// rows 0.5 around them): every row nearest its own centre by a wide
    /// margin.
    fn separated(n: usize, d: usize, c: usize, seed: u64) -> ndarray::Array2<f32> {
        super::super::torch::tests::blobs(n, d, c, 0.5, seed).0
    }

    #[test]
    fn separated_clusters_get_the_cpu_assignments_exactly() {
        let x = separated(600, 40, 6, 4);
        let ps = [params(6, 0), params(6, second_seed(0))];
        let want = kmeans::kmeans_many(x.view(), &ps);
        for dev in devices() {
            let got = kmeans_many(dev, x.view(), &ps).expect("device");
            for (g, w) in got.iter().zip(&want) {
                // Same seeds, same draws, same clusters with the same ids.
                assert_eq!(g.labels, w.labels, "{dev}");
                assert_eq!(g.n_iter, w.n_iter, "{dev}");
                assert!(
                    (g.inertia - w.inertia).abs() <= 1e-6 * w.inertia,
                    "{dev}: {} vs {}",
                    g.inertia,
                    w.inertia
                );
                let worst = g
                    .centroids
                    .iter()
                    .zip(w.centroids.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-4, "{dev}: centroids differ by {worst}");
            }
        }
    }

    #[test]
    fn more_clusters_than_blobs_still_follow_the_cpu() {
        // k = 8 on 4 blobs splits blobs: the draws and the Lloyd steps must
        // still agree (no exact ties in random data).
        let x = separated(400, 16, 4, 5);
        let p = params(8, 3);
        let want = kmeans::kmeans(x.view(), &p);
        for dev in devices() {
            let [got] = kmeans_many(dev, x.view(), &[p]).expect("device");
            assert_eq!(got.labels, want.labels, "{dev}");
            assert!((got.inertia - want.inertia).abs() <= 1e-6 * want.inertia);
        }
    }

    #[test]
    fn two_groups_by_hand() {
        // kmeans.rs's hand-computed case: groups {0, 2, 4} and {1, 3, 5},
        // centroids (1, 1) and (11, 11), inertia 16.
        let x = ndarray::array![
            [0.0f32, 0.0],
            [10.0, 10.0],
            [2.0, 0.0],
            [12.0, 10.0],
            [1.0, 3.0],
            [11.0, 13.0]
        ];
        for seed in 0..5 {
            let [r] = kmeans_many(Device::TorchCpu, x.view(), &[params(2, seed)]).expect("device");
            let l = &r.labels;
            assert_eq!((l[0], l[0]), (l[2], l[4]));
            assert_eq!((l[1], l[1]), (l[3], l[5]));
            assert_ne!(l[0], l[1]);
            assert!((r.inertia - 16.0).abs() < 1e-9, "inertia {}", r.inertia);
            assert_eq!(r.centroids.row(l[0] as usize).to_vec(), vec![1.0, 1.0]);
        }
    }

    #[test]
    fn an_empty_cluster_takes_the_farthest_row() {
        // kmeans.rs's case: all four rows nearest centroid 0; cluster 1
        // takes row 3 (9, the farthest), cluster 0 keeps the mean of 0, 1, 5.
        let x = ndarray::array![[0.0f32], [1.0], [5.0], [9.0]];
        let data = Centered::new(x.view());
        let rows = Rows {
            host: &data,
            xs: upload(&data.data, 4, 1, tch::Device::Cpu).expect("upload"),
            norms: vector(&data.norms, tch::Device::Cpu).expect("norms"),
            td: tch::Device::Cpu,
        };
        let m = data.mean[0];
        let init = vec![0.0 - m, 100.0 - m];
        let mut a = assign_many(&rows, &[&init], 2).expect("assign").remove(0);
        assert_eq!(a.labels, vec![0, 0, 0, 0]);
        let next = update(&data, &mut a, &init, 2);
        assert_eq!(next, vec![2.0 - m, 9.0 - m]);
    }
}
