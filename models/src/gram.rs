//! The sufficient statistics of a ridge regression, accumulated one row at a time, and
//! the solve. Rows are never stored: each day adds to `Σ z zᵀ` (z = dense features and
//! the target) and to per-weekday sums, which stand in for the six weekday dummies —
//! a 0/1 column's cross products are just sums over its days, so the dummies cost
//! nothing per row. The statistics can be cloned at any row, which lets one pass over a
//! series serve every backtest fold and the final refit.

use crate::cholesky::solve_spd;
use crate::error::FitError;
use crate::features::{MAX_DENSE, WEEKDAY_DUMMIES};

/// Widest z: dense features plus the target.
const Z: usize = MAX_DENSE + 1;
const MAX_P: usize = MAX_DENSE + WEEKDAY_DUMMIES;

#[derive(Clone, Debug)]
pub(crate) struct Gram {
    /// Used width of z: dense columns + 1 (the target is last).
    width: usize,
    /// The first row. Sums are of `z − shift`, which leaves the centred statistics
    /// unchanged but avoids cancellation when levels are large next to their variance.
    shift: [f64; Z],
    rows: usize,
    /// Upper triangle of Σ (z−shift)(z−shift)ᵀ, row-major with stride Z.
    cross: [f64; Z * Z],
    /// Σ (z−shift) over the rows of each weekday (Monday = 0).
    by_weekday: [[f64; Z]; 7],
    count: [f64; 7],
}

/// A solved ridge regression in the original (unshifted, uncentred) units.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Solution {
    /// Dense coefficients, then the Tuesday … Sunday dummies.
    pub coef: Vec<f64>,
    pub intercept: f64,
    /// The penalty actually used (larger than asked if the system was singular).
    pub lambda: f64,
}

impl Gram {
    /// Statistics for `dense` feature columns (at most `MAX_DENSE`).
    pub fn new(dense: usize) -> Gram {
        Gram {
            width: dense.min(MAX_DENSE) + 1,
            shift: [0.0; Z],
            rows: 0,
            cross: [0.0; Z * Z],
            by_weekday: [[0.0; Z]; 7],
            count: [0.0; 7],
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds one row: `z[..dense]` the features, `z[dense]` the target.
    pub fn add(&mut self, z: &[f64; Z], weekday: usize) {
        let m = self.width;
        if self.rows == 0 {
            self.shift = *z;
        }
        let mut s = [0.0; Z];
        for ((s, z), shift) in s.iter_mut().zip(z).zip(&self.shift).take(m) {
            *s = z - shift;
        }
        // The widths in use get a kernel with a compile-time width: fully unrolled and
        // free of bounds checks, it is most of the cost of a ridge fit.
        match m {
            12 => accumulate::<12>(&mut self.cross, &s),
            Z => accumulate::<Z>(&mut self.cross, &s),
            _ => {
                for (i, row) in self.cross.chunks_exact_mut(Z).enumerate().take(m) {
                    let si = s[i];
                    for (cell, sj) in row[i..m].iter_mut().zip(&s[i..m]) {
                        *cell += si * sj;
                    }
                }
            }
        }
        let day = weekday % 7;
        for (sum, v) in self.by_weekday[day].iter_mut().zip(&s).take(m) {
            *sum += v;
        }
        self.count[day] += 1.0;
        self.rows += 1;
    }

    /// Ridge with an unpenalized intercept on centred data — scikit-learn's
    /// `Ridge(alpha=lambda)`. A singular system is retried with a penalty raised in
    /// steps relative to the data's scale, so a constant column or a collinear set
    /// (rolling mean 7 is the mean of lags 1–7) never fails a fit with lambda = 0.
    pub fn solve(&self, lambda: f64) -> Result<Solution, FitError> {
        if self.rows == 0 {
            return Err(FitError::TooShort { days: 0, needed: 1 });
        }
        let q = self.width - 1;
        let p = q + WEEKDAY_DUMMIES;
        let n = self.rows as f64;

        // Column sums (features then target) and raw cross products in the full design.
        let mut sum = [0.0; Z];
        for day in &self.by_weekday {
            for (total, v) in sum.iter_mut().zip(day) {
                *total += v;
            }
        }
        let raw = |i: usize, j: usize| -> f64 {
            let (lo, hi) = (i.min(j), i.max(j));
            match (lo < q, hi < q) {
                (true, true) => self.cross[lo * Z + hi],
                (true, false) => self.by_weekday[hi - q + 1][lo],
                _ if lo == hi => self.count[lo - q + 1],
                _ => 0.0,
            }
        };
        let col_sum = |i: usize| if i < q { sum[i] } else { self.count[i - q + 1] };
        let y_sum = sum[q];

        let mut a = [0.0; MAX_P * MAX_P];
        let mut b = [0.0; MAX_P];
        for i in 0..p {
            for j in 0..=i {
                a[i * p + j] = raw(i, j) - col_sum(i) * col_sum(j) / n;
            }
            let raw_y = if i < q {
                self.cross[i * Z + q]
            } else {
                self.by_weekday[i - q + 1][q]
            };
            b[i] = raw_y - col_sum(i) * y_sum / n;
        }
        let mean_diag = (0..p).map(|i| a[i * p + i]).sum::<f64>() / p as f64;
        if !mean_diag.is_finite() || b[..p].iter().any(|v| !v.is_finite()) {
            return Err(FitError::NonFinite("ridge statistics"));
        }

        let floor = mean_diag.max(1e-12) * 1e-9;
        let mut penalty = lambda;
        for _attempt in 0..6 {
            let mut factor = a;
            let mut x = b;
            for i in 0..p {
                factor[i * p + i] += penalty;
            }
            if solve_spd(&mut factor[..p * p], &mut x[..p], p) {
                let coef = x[..p].to_vec();
                let mut intercept = y_sum / n + self.shift[q];
                for (i, w) in coef.iter().enumerate() {
                    let shift = if i < q { self.shift[i] } else { 0.0 };
                    intercept -= w * (col_sum(i) / n + shift);
                }
                if intercept.is_finite() {
                    return Ok(Solution {
                        coef,
                        intercept,
                        lambda: penalty,
                    });
                }
            }
            penalty = (penalty * 100.0).max(floor);
        }
        Err(FitError::Singular("ridge"))
    }
}

/// `cross += s sᵀ` on the upper triangle of the leading `M × M` block.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // two indices into two arrays: clearer as ranges
fn accumulate<const M: usize>(cross: &mut [f64; Z * Z], s: &[f64; Z]) {
    for i in 0..M {
        let si = s[i];
        for j in i..M {
            cross[i * Z + j] += si * s[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[f64]) -> [f64; Z] {
        let mut z = [0.0; Z];
        z[..values.len()].copy_from_slice(values);
        z
    }

    #[test]
    fn one_feature_matches_scikit_learn() {
        // sklearn: Ridge(alpha=1).fit([[1],[2],[3],[4]], [2,4,5,8])
        //   → coef_ = [1.5833333], intercept_ = 0.7916667 (centred: 9.5 / (5 + 1)).
        let mut gram = Gram::new(1);
        for (x, y) in [(1.0, 2.0), (2.0, 4.0), (3.0, 5.0), (4.0, 8.0)] {
            gram.add(&row(&[x, y]), 0);
        }
        let fit = gram.solve(1.0).unwrap();
        assert!((fit.coef[0] - 9.5 / 6.0).abs() < 1e-12);
        assert!((fit.intercept - (4.75 - 2.5 * 9.5 / 6.0)).abs() < 1e-12);
        // Every row is a Monday: the dummies are zero columns and get zero weight.
        assert!(fit.coef[1..].iter().all(|w| w.abs() < 1e-15));
    }

    /// Explicit design matrix, centred, (XᵀX + λI) w = Xᵀy by Gaussian elimination.
    fn reference(x: &[Vec<f64>], y: &[f64], lambda: f64) -> (Vec<f64>, f64) {
        let (n, p) = (x.len() as f64, x[0].len());
        let mean: Vec<f64> = (0..p)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let y_mean = y.iter().sum::<f64>() / n;
        let mut m = vec![vec![0.0; p + 1]; p];
        for (r, yv) in x.iter().zip(y) {
            for i in 0..p {
                for j in 0..p {
                    m[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]);
                }
                m[i][p] += (r[i] - mean[i]) * (yv - y_mean);
            }
        }
        for (i, row) in m.iter_mut().enumerate() {
            row[i] += lambda;
        }
        for c in 0..p {
            let pivot = m[c].clone();
            for (r, row) in m.iter_mut().enumerate() {
                if r != c {
                    let f = row[c] / pivot[c];
                    for (v, pv) in row.iter_mut().zip(&pivot) {
                        *v -= f * pv;
                    }
                }
            }
        }
        let w: Vec<f64> = (0..p).map(|i| m[i][p] / m[i][i]).collect();
        let b = y_mean - w.iter().zip(&mean).map(|(w, m)| w * m).sum::<f64>();
        (w, b)
    }

    #[test]
    fn dense_and_weekday_columns_match_an_explicit_design() {
        let mut gram = Gram::new(2);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for t in 0..40 {
            let (a, b) = ((t as f64 * 0.7).sin() * 10.0 + 100.0, (t % 5) as f64);
            let target = 3.0 + 0.5 * a - 2.0 * b + (t % 7) as f64 + (t as f64 * 1.3).cos();
            gram.add(&row(&[a, b, target]), t % 7);
            let mut r = vec![a, b];
            r.extend((1..7).map(|d| f64::from(u8::from(t % 7 == d))));
            x.push(r);
            y.push(target);
        }
        for lambda in [0.0, 0.5, 10.0] {
            let fit = gram.solve(lambda).unwrap();
            let (w, b) = reference(&x, &y, lambda);
            for (got, want) in fit.coef.iter().zip(&w) {
                assert!(
                    (got - want).abs() < 1e-9,
                    "lambda {lambda}: {got} vs {want}"
                );
            }
            assert!((fit.intercept - b).abs() < 1e-8);
        }
    }

    #[test]
    fn a_singular_system_raises_the_penalty() {
        let mut gram = Gram::new(2);
        for t in 0..10 {
            let v = t as f64;
            gram.add(&row(&[v, 2.0 * v, 3.0 * v + 1.0]), 0); // collinear columns
        }
        let fit = gram.solve(0.0).unwrap();
        assert!(fit.lambda > 0.0);
        assert!(fit.coef.iter().all(|w| w.is_finite()));
    }
}
