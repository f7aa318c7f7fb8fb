//! Adjusted mutual information (arithmetic normalisation, exact EMI),
//! as scikit-learn's `adjusted_mutual_info_score`.
//!
//! AMI = (MI - E[MI]) / (mean(H(a), H(b)) - E[MI]), natural logarithms, where
//! E[MI] is the exact expectation under the permutation (hypergeometric)
//! model of Vinh, Epps and Bailey (2010).

use std::collections::HashMap;

/// AMI between two labelings of the same items (any integer ids).
///
/// Follows scikit-learn 1.x (`average_method='arithmetic'`) including its
/// conventions: 1.0 when both labelings have a single cluster, or both are
/// empty; 0.0 when exactly one of them has a single cluster; numerator and
/// denominator kept at least machine epsilon away from zero (with their
/// sign), so a perfect match gives 1.0 rather than 0/0.
///
/// The labelings must have the same length (the pipeline guarantees it);
/// when they do not, the result is NaN.
pub fn adjusted_mutual_info(a: &[i64], b: &[i64]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    let n = a.len();
    let (ia, size_a) = dense_ids(a);
    let (ib, size_b) = dense_ids(b);
    let (ka, kb) = (size_a.len(), size_b.len());
    if (ka == 1 && kb == 1) || (ka == 0 && kb == 0) {
        return 1.0;
    }
    if ka == 1 || kb == 1 {
        return 0.0;
    }

    let mi = mutual_info(&ia, &ib, &size_a, &size_b, n);
    let ln_fact = ln_factorials(n);
    let emi = expected_mutual_info(&size_a, &size_b, n, &ln_fact);
    let mean_h = 0.5 * (entropy(&size_a, n) + entropy(&size_b, n));
    let eps = f64::EPSILON;
    let away_from_zero = |v: f64| if v < 0.0 { v.min(-eps) } else { v.max(eps) };
    away_from_zero(mi - emi) / away_from_zero(mean_h - emi)
}

/// Dense ids 0.. in order of first appearance, and the size of each cluster.
fn dense_ids(labels: &[i64]) -> (Vec<u32>, Vec<u64>) {
    let mut ids: HashMap<i64, u32> = HashMap::new();
    let mut sizes: Vec<u64> = Vec::new();
    let dense = labels
        .iter()
        .map(|&l| {
            let next = sizes.len() as u32;
            let id = *ids.entry(l).or_insert(next);
            if id == next {
                sizes.push(0);
            }
            sizes[id as usize] += 1;
            id
        })
        .collect();
    (dense, sizes)
}

/// MI (nats) from the non-zero contingency cells, term by term as
/// scikit-learn's `mutual_info_score` (tiny terms zeroed, total clipped at 0).
fn mutual_info(ia: &[u32], ib: &[u32], size_a: &[u64], size_b: &[u64], n: usize) -> f64 {
    // Sparse contingency table: the cell key of each item, sorted, so runs of
    // equal keys are the non-zero cells (an all-distinct labeling would make a
    // dense table n x n).
    let kb = size_b.len() as u64;
    let mut keys: Vec<u64> = ia
        .iter()
        .zip(ib)
        .map(|(&i, &j)| u64::from(i) * kb + u64::from(j))
        .collect();
    keys.sort_unstable();

    let nf = n as f64;
    let ln_n = nf.ln();
    let mut mi = 0.0;
    let mut start = 0;
    while start < keys.len() {
        let key = keys[start];
        let end = start + keys[start..].iter().take_while(|&&k| k == key).count();
        let nij = (end - start) as f64;
        let (i, j) = ((key / kb) as usize, (key % kb) as usize);
        let c = nij / nf;
        let outer = (size_a[i] * size_b[j]) as f64;
        let term = c * (nij.ln() - ln_n) + c * (-outer.ln() + ln_n + ln_n);
        if term.abs() >= f64::EPSILON {
            mi += term;
        }
        start = end;
    }
    mi.max(0.0)
}

/// Entropy (nats) of a labeling with the given cluster sizes.
fn entropy(sizes: &[u64], n: usize) -> f64 {
    let nf = n as f64;
    let ln_n = nf.ln();
    -sizes
        .iter()
        .map(|&s| {
            let s = s as f64;
            (s / nf) * (s.ln() - ln_n)
        })
        .sum::<f64>()
}

/// `ln(k!)` for k = 0..=n, summed with Neumaier compensation so the largest
/// entries (about 8e4 for n = 10,000) keep close to full precision.
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    out.push(0.0);
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for k in 1..=n {
        let x = (k as f64).ln();
        let t = sum + x;
        comp += if sum.abs() >= x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
        sum = t;
        out.push(sum + comp);
    }
    out
}

/// Exact expected MI under the hypergeometric model, as scikit-learn's
/// `expected_mutual_information`: for every pair of clusters (sizes a, b)
/// and every feasible overlap k,
/// (k/N) ln(N k / (a b)) * C(a,k) C(N-a, b-k) / C(N, b).
///
/// The sum depends on the cluster sizes only, so pairs of equal sizes are
/// evaluated once and weighted by their multiplicity (at most about
/// sqrt(2N) distinct sizes exist, which keeps all-distinct labelings cheap).
fn expected_mutual_info(size_a: &[u64], size_b: &[u64], n: usize, ln_fact: &[f64]) -> f64 {
    let groups_a = size_multiplicities(size_a);
    let groups_b = size_multiplicities(size_b);
    let n = n as u64;
    let nf = n as f64;
    let ln_n = nf.ln();
    let lf = |k: u64| ln_fact[k as usize];
    let mut emi = 0.0;
    for &(a, count_a) in &groups_a {
        for &(b, count_b) in &groups_b {
            let fixed = lf(a) + lf(b) + lf(n - a) + lf(n - b) - lf(n);
            let ln_ab = (a as f64).ln() + (b as f64).ln();
            // Overlaps from max(1, a + b - N) to min(a, b).
            let start = (a + b).saturating_sub(n).max(1);
            let end = a.min(b);
            let mut pair = 0.0;
            for k in start..=end {
                let kf = k as f64;
                let ln_term = ln_n + kf.ln() - ln_ab;
                let ln_p = fixed - lf(k) - lf(a - k) - lf(b - k) - lf(n + k - a - b);
                pair += (kf / nf) * ln_term * ln_p.exp();
            }
            emi += pair * (count_a * count_b) as f64;
        }
    }
    emi
}

/// Distinct cluster sizes and how many clusters have each, sorted by size.
fn size_multiplicities(sizes: &[u64]) -> Vec<(u64, u64)> {
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some((v, c)) if *v == s => *c += 1,
            _ => out.push((s, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identical_and_permuted_labelings_score_one() {
        assert_eq!(adjusted_mutual_info(&[0, 0, 1, 1], &[0, 0, 1, 1]), 1.0);
        assert_eq!(adjusted_mutual_info(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0);
        assert_eq!(adjusted_mutual_info(&[0, 0, 1, 1], &[-7, -7, 42, 42]), 1.0);
    }

    #[test]
    fn single_cluster_conventions() {
        // Both one cluster: a perfect (if trivial) match.
        assert_eq!(adjusted_mutual_info(&[3, 3, 3], &[5, 5, 5]), 1.0);
        // Both empty.
        assert_eq!(adjusted_mutual_info(&[], &[]), 1.0);
        // Exactly one side a single cluster.
        assert_eq!(adjusted_mutual_info(&[0, 0, 0, 0], &[0, 1, 2, 3]), 0.0);
        assert_eq!(adjusted_mutual_info(&[0, 1, 0, 1], &[9, 9, 9, 9]), 0.0);
    }

    #[test]
    fn mismatched_lengths_are_nan() {
        assert!(adjusted_mutual_info(&[0, 1], &[0, 1, 1]).is_nan());
    }

    #[test]
    fn ln_factorials_match_products() {
        let lf = ln_factorials(20);
        assert_eq!(lf[0], 0.0);
        assert_eq!(lf[1], 0.0);
        assert!((lf[5] - 120f64.ln()).abs() < 1e-15);
        // 20! = 2432902008176640000 is exact in f64.
        assert!((lf[20] - 2_432_902_008_176_640_000f64.ln()).abs() < 1e-13);
    }

    #[test]
    fn hand_computed_three_by_three() {
        // a = [0,0,0,1,1,2] (sizes 3,2,1), b = [0,0,1,1,2,2] (sizes 2,2,2), N = 6.
        // Cells: (0,0)=2, (0,1)=1, (1,1)=1, (1,2)=1, (2,2)=1.
        // MI = 2/6 ln(6*2/(3*2)) + 1/6 ln(6/(3*2)) + 2 * 1/6 ln(6/(2*2))
        //      + 1/6 ln(6/(1*2))
        //    = 1/3 ln 2 + 0 + 1/3 ln(3/2) + 1/6 ln 3 = 1/2 ln 3.
        // H(a) = 1/2 ln 2 + 1/3 ln 3 + 1/6 ln 6; H(b) = ln 3.
        // EMI, each column b = 2, C(6,2) = 15, term (k/6) ln(6k/(a b)) P(k):
        //   a=3: k=1: ln(6/6) = 0; k=2: P = C(3,2)C(3,0)/15 = 3/15,
        //        (2/6) ln(12/6) 3/15 = ln2/15
        //   a=2: k=1: P = C(2,1)C(4,1)/15 = 8/15, (1/6) ln(6/4) 8/15 = 4/45 ln(3/2)
        //        k=2: P = 1/15, (2/6) ln(12/4) / 15 = ln3/45
        //   a=1: k=1: P = C(1,1)C(5,1)/15 = 1/3, (1/6) ln(6/2) / 3 = ln3/18
        //   times 3 columns: EMI = ln2/5 + 4/15 ln(3/2) + ln3/15 + ln3/6
        //   = 0.503096332296725 (sklearn's expected_mutual_information agrees).
        let l = f64::ln;
        let mi = 0.5 * l(3.0);
        let ha = 0.5 * l(2.0) + l(3.0) / 3.0 + l(6.0) / 6.0;
        let hb = l(3.0);
        let emi = l(2.0) / 5.0 + 4.0 / 15.0 * l(1.5) + l(3.0) / 15.0 + l(3.0) / 6.0;
        assert!((emi - 0.503096332296725).abs() < 1e-14);
        let want = (mi - emi) / (0.5 * (ha + hb) - emi);
        let a = [0, 0, 0, 1, 1, 2];
        let b = [0, 0, 1, 1, 2, 2];
        let got = adjusted_mutual_info(&a, &b);
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        // sklearn: adjusted_mutual_info_score(a, b) = 0.08372678378671243.
        assert!((got - 0.08372678378671243).abs() < 1e-14, "{got}");
    }

    #[test]
    fn hand_computed_independent_halves_is_minus_one_half() {
        // a = [0,0,1,1], b = [0,1,0,1]: every cell holds one item, so
        // MI = 4 * 1/4 ln(4*1/(2*2)) = 0; H(a) = H(b) = ln 2.
        // EMI: four (2, 2) pairs, C(4,2) = 6; k=1: ln(4/4) = 0;
        // k=2: P = C(2,2)C(2,0)/6 = 1/6, (2/4) ln(8/4) / 6 = ln2/12.
        // EMI = ln2/3; AMI = (0 - ln2/3) / (ln2 - ln2/3) = -1/2.
        let got = adjusted_mutual_info(&[0, 0, 1, 1], &[0, 1, 0, 1]);
        assert!((got + 0.5).abs() < 1e-14, "{got}");
    }

    #[test]
    fn mi_equal_to_emi_keeps_the_numerator_off_zero() {
        // a = [0,0,1,1], b = [0,1,1,1]: MI = 1/4 ln 2 + 1/4 ln(2/3) + 1/2 ln(4/3)
        // and EMI works out to the same sum, so MI - EMI is 0 up to rounding;
        // the numerator is then +-eps and AMI is ~1e-16 (sklearn: 6.7e-16),
        // not NaN.
        let got = adjusted_mutual_info(&[0, 0, 1, 1], &[0, 1, 1, 1]);
        assert!(got.abs() < 1e-14 && got != 0.0, "{got}");
    }

    fn relabel(labels: &[i64], perm: &[i64]) -> Vec<i64> {
        labels.iter().map(|&l| perm[l as usize]).collect()
    }

    proptest! {
        #[test]
        fn symmetric(
            (a, b) in (1usize..60).prop_flat_map(|n| (
                proptest::collection::vec(0i64..5, n),
                proptest::collection::vec(0i64..4, n),
            ))
        ) {
            let ab = adjusted_mutual_info(&a, &b);
            let ba = adjusted_mutual_info(&b, &a);
            prop_assert!((ab - ba).abs() < 1e-12, "{} vs {}", ab, ba);
        }

        #[test]
        fn at_most_one(
            (a, b) in (1usize..60).prop_flat_map(|n| (
                proptest::collection::vec(0i64..6, n),
                proptest::collection::vec(0i64..6, n),
            ))
        ) {
            prop_assert!(adjusted_mutual_info(&a, &b) <= 1.0 + 1e-12);
        }

        #[test]
        fn one_for_a_relabelled_copy(
            a in proptest::collection::vec(0i64..5, 2..80),
            perm in Just(vec![0i64, 1, 2, 3, 4]).prop_shuffle(),
            shift in -1000i64..1000,
        ) {
            let b: Vec<i64> = relabel(&a, &perm).into_iter().map(|l| l * 3 + shift).collect();
            let got = adjusted_mutual_info(&a, &b);
            prop_assert!((got - 1.0).abs() < 1e-12, "{}", got);
        }
    }
}
