//! The business rule is judged as written: `a || b && c` is `a || (b && c)` in CEL,
//! so splitting it at `&&` into `a || b` and `c` rejected models the rule accepts.

use herd_tests::env::Env;
use herd_tests::production::PromotionsTable;
use herd_tests::small_lake::{self, KEYS, SmallLakeOptions};

/// Every scored model passes it (`accuracy >= 0.0`), whatever its rows.
const RULE: &str = "accuracy >= 0.0 || baseline_accuracy < 0.0 && rows > 100000";

#[test]
fn a_disjunction_is_judged_as_one_expression() {
    let env = Env::new("seams-rule", 3);
    let lake = small_lake::build(
        &env,
        &SmallLakeOptions {
            models: Some("seasonal_naive".into()),
            rule: Some(RULE.into()),
            score: false,
        },
    );
    let promotions = PromotionsTable::read(&env.lake_root());
    assert_eq!(promotions.rows.len() as u64, KEYS);
    // Only models without holdout metrics (too little history) can fail it.
    let rejected: Vec<_> = promotions
        .rows
        .iter()
        .filter(|row| row.decision == "rejected")
        .collect();
    for row in &rejected {
        assert!(row.accuracy.is_none(), "rejected though scored: {row:?}");
    }
    let scored = promotions
        .rows
        .iter()
        .filter(|row| row.accuracy.is_some())
        .count() as u64;
    assert!(scored > 0);
    assert_eq!(lake.promoted, scored, "every scored model passes {RULE}");
    assert_eq!(lake.rejected, rejected.len() as u64);
}
