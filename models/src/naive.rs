//! The seasonal naive forecast: the last observed cycle (a week of days, a year of
//! weeks or months), repeated. It is the baseline every candidate must beat and the
//! fallback when none can be fitted.

/// `ŷ(t+h) = y(t − m + ((h−1) mod m) + 1)` for a cycle of `m` periods. With fewer
/// than `m` periods in `recent` (only a hand-made model can have that) the periods it
/// has are repeated; with none, 0.
pub(crate) fn project(recent: &[f64], m: usize, horizon: usize) -> Vec<f64> {
    let week = &recent[recent.len().saturating_sub(m)..];
    if week.is_empty() {
        return vec![0.0; horizon];
    }
    week.iter().copied().cycle().take(horizon).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_last_week() {
        let recent: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(
            project(&recent, 7, 9),
            vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 3.0, 4.0]
        );
        assert_eq!(project(&[], 7, 2), vec![0.0, 0.0]);
        assert_eq!(project(&[1.0, 2.0], 7, 3), vec![1.0, 2.0, 1.0]);
    }
}
