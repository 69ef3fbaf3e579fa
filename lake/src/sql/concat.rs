//! `a || b` within the memory budget. DataFusion evaluates the text operator itself,
//! outside any function, so [`bounded`](super::bounded)'s functions never see it and a
//! chain of them (`s || s` over a table of long texts, doubled in a few CTEs) could
//! allocate without limit. An analyzer rule turns each `||` on text or bytes into the
//! `||` function below, which reserves its answer's bytes in the engine's pool before
//! it computes the same answer as the operator (NULL when either side is NULL).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use deltalake::arrow::compute::kernels::concat_elements::concat_elements_dyn;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
use deltalake::datafusion::common::{Result, ScalarValue};
use deltalake::datafusion::config::ConfigOptions;
use deltalake::datafusion::execution::memory_pool::MemoryPool;
use deltalake::datafusion::logical_expr::expr::ScalarFunction;
use deltalake::datafusion::logical_expr::expr_rewriter::NamePreserver;
use deltalake::datafusion::logical_expr::utils::merge_schema;
use deltalake::datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable as _, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use deltalake::datafusion::optimizer::AnalyzerRule;
use deltalake::datafusion::prelude::SessionContext;

use super::bounded::{reserve, sum_of};

/// Adds to `ctx` the rule that bounds every `||` on text by `pool`.
pub(super) fn register(ctx: &SessionContext, pool: &Arc<dyn MemoryPool>) {
    let function = Arc::new(ScalarUDF::new_from_impl(ConcatOperator {
        signature: Signature::any(2, Volatility::Immutable),
        pool: Arc::clone(pool),
    }));
    ctx.add_analyzer_rule(Arc::new(BoundConcat { function }));
}

/// Turns `a || b` on text or bytes into [`ConcatOperator`]; the columns keep the
/// names the operator gave them.
#[derive(Debug)]
struct BoundConcat {
    function: Arc<ScalarUDF>,
}

impl AnalyzerRule for BoundConcat {
    fn name(&self) -> &str {
        "bound_string_concat"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = merge_schema(&plan.inputs());
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let rewritten = expr.transform_up(|expr| match expr {
                    Expr::BinaryExpr(BinaryExpr {
                        left,
                        op: Operator::StringConcat,
                        right,
                    }) if joins_text(&left, &right, &schema) => Ok(Transformed::yes(
                        Expr::ScalarFunction(ScalarFunction::new_udf(
                            Arc::clone(&self.function),
                            vec![*left, *right],
                        )),
                    )),
                    other => Ok(Transformed::no(other)),
                })?;
                Ok(rewritten.update_data(|expr| name.restore(expr)))
            })
        })
        .map(|rewritten| rewritten.data)
    }
}

/// Whether both sides of a `||` are of one text or bytes type, as type coercion
/// leaves them (a side whose type cannot be told is left to the operator).
fn joins_text(left: &Expr, right: &Expr, schema: &deltalake::datafusion::common::DFSchema) -> bool {
    match (left.get_type(schema), right.get_type(schema)) {
        (Ok(left), Ok(right)) => left == right && concatenable(&left),
        _ => false,
    }
}

/// The types arrow's `concat_elements_dyn` joins, as the operator does.
fn concatenable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// `a || b` as a function that reserves its answer's bytes first.
#[derive(Debug)]
struct ConcatOperator {
    signature: Signature,
    pool: Arc<dyn MemoryPool>,
}

impl PartialEq for ConcatOperator {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
    }
}

impl Eq for ConcatOperator {}

impl Hash for ConcatOperator {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
    }
}

impl ScalarUDFImpl for ConcatOperator {
    fn name(&self) -> &str {
        "||"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let _reservation = reserve(&self.pool, "||", sum_of(&args.args, rows), rows)?;
        let constant = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let joined = concat_elements_dyn(&arrays[0], &arrays[1])?;
        Ok(if constant {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&joined, 0)?)
        } else {
            ColumnarValue::Array(joined)
        })
    }
}
