//! Solving the ridge normal equations, a symmetric positive definite system of at most
//! 23×23. Written here rather than taken from `linfa-linalg` or nalgebra: those want
//! their own matrix types (an ndarray allocation and copy per solve, thousands of solves
//! per second) and a dependency tree, for twenty lines of textbook Cholesky.

/// Solves `a · x = b` in place (`b` becomes `x`) for a symmetric positive definite `a`,
/// row-major `n × n`; only the lower triangle is read and it is overwritten by the
/// factor. Returns false when a pivot is not clearly positive, i.e. the system is
/// singular or too ill-conditioned to trust — the caller raises the penalty and retries.
pub(crate) fn solve_spd(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    if a.len() < n * n || b.len() < n {
        return false;
    }
    let scale = (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max);
    let tiny = scale * 1e-10;
    for j in 0..n {
        let mut pivot = a[j * n + j];
        for k in 0..j {
            pivot -= a[j * n + k] * a[j * n + k];
        }
        if !(pivot > tiny && pivot.is_finite()) {
            return false;
        }
        let pivot = pivot.sqrt();
        a[j * n + j] = pivot;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for k in 0..j {
                v -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = v / pivot;
        }
    }
    // Forward substitution L·z = b, then back substitution Lᵀ·x = z.
    for i in 0..n {
        let mut v = b[i];
        for k in 0..i {
            v -= a[i * n + k] * b[k];
        }
        b[i] = v / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut v = b[i];
        for k in i + 1..n {
            v -= a[k * n + i] * b[k];
        }
        b[i] = v / a[i * n + i];
    }
    b[..n].iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_known_system() {
        // A = [[4,2,0],[2,5,1],[0,1,3]], x = [1,-1,2] → b = A·x.
        let mut a = [4.0, 2.0, 0.0, 2.0, 5.0, 1.0, 0.0, 1.0, 3.0];
        let mut b = [2.0, -1.0, 5.0];
        assert!(solve_spd(&mut a, &mut b, 3));
        for (got, want) in b.iter().zip([1.0, -1.0, 2.0]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn rejects_singular_and_short_input() {
        let mut a = [1.0, 1.0, 1.0, 1.0];
        assert!(!solve_spd(&mut a, &mut [1.0, 1.0], 2));
        assert!(!solve_spd(&mut [1.0], &mut [1.0], 2));
    }
}
