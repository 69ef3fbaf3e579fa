//! A fixed-budget Nelder–Mead minimizer for the few smoothing parameters of ETS.
//! Derivative-free because the one-step SSE of a smoother has no cheap gradient, and
//! fixed-budget because a model per series must cost about the same every time.

/// Minimizes `f` from `start`, with an initial simplex of edge `step`, using at most
/// about `max_evals` evaluations (a final shrink may add `N`). Non-finite values count
/// as +∞. Deterministic: same inputs, same evaluations, same answer.
pub(crate) fn nelder_mead<const N: usize>(
    mut f: impl FnMut(&[f64; N]) -> f64,
    start: [f64; N],
    step: f64,
    max_evals: usize,
) -> ([f64; N], f64) {
    let mut evals = 0usize;
    let mut eval = |x: &[f64; N], evals: &mut usize| {
        *evals += 1;
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut simplex: Vec<([f64; N], f64)> = Vec::with_capacity(N + 1);
    simplex.push((start, eval(&start, &mut evals)));
    for i in 0..N {
        let mut x = start;
        x[i] += step;
        let value = eval(&x, &mut evals);
        simplex.push((x, value));
    }

    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, best_value) = simplex[0];
        let (worst, worst_value) = simplex[N];
        let second_worst = simplex[N.saturating_sub(1)].1;
        // Converged: the simplex no longer tells its points apart.
        if worst_value - best_value <= 1e-10 * best_value.abs() + 1e-300 {
            break;
        }
        let mut centroid = [0.0; N];
        for (x, _) in &simplex[..N] {
            for (c, v) in centroid.iter_mut().zip(x) {
                *c += v / N as f64;
            }
        }
        let along = |t: f64| -> [f64; N] {
            std::array::from_fn(|i| centroid[i] + t * (worst[i] - centroid[i]))
        };

        let reflected = along(-1.0);
        let reflected_value = eval(&reflected, &mut evals);
        if reflected_value < best_value {
            let expanded = along(-2.0);
            let expanded_value = eval(&expanded, &mut evals);
            simplex[N] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < second_worst {
            simplex[N] = (reflected, reflected_value);
        } else {
            let outside = reflected_value < worst_value;
            let contracted = along(if outside { -0.5 } else { 0.5 });
            let contracted_value = eval(&contracted, &mut evals);
            if contracted_value < reflected_value.min(worst_value) {
                simplex[N] = (contracted, contracted_value);
            } else {
                for (x, value) in simplex.iter_mut().skip(1) {
                    *x = std::array::from_fn(|i| best[i] + 0.5 * (x[i] - best[i]));
                    *value = eval(x, &mut evals);
                }
            }
        }
    }
    simplex
        .into_iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((start, f64::INFINITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_bowl_within_budget() {
        let mut calls = 0;
        let (x, value) = nelder_mead(
            |x: &[f64; 2]| {
                calls += 1;
                (x[0] - 1.0).powi(2) + 3.0 * (x[1] + 2.0).powi(2)
            },
            [0.0, 0.0],
            1.0,
            200,
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-3 && (x[1] + 2.0).abs() < 1e-3,
            "{x:?}"
        );
        assert!(value < 1e-6);
        assert!(calls <= 200 + 2);
    }

    #[test]
    fn non_finite_values_are_avoided() {
        let (x, _) = nelder_mead(
            |x: &[f64; 1]| {
                if x[0] < 0.0 {
                    f64::NAN
                } else {
                    (x[0] - 0.5).powi(2)
                }
            },
            [2.0],
            1.0,
            60,
        );
        assert!((x[0] - 0.5).abs() < 1e-2);
    }
}
