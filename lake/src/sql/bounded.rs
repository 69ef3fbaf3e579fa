//! Bounded versions of the scalar functions whose answer can be far larger than their
//! arguments (`repeat('x', 2000000000)`, `range(0, 4000000000)`, …). DataFusion's
//! memory pool does not see what a scalar function allocates, so a single call could
//! ask the allocator for gigabytes, fail and abort the process. Each wrapped function
//! first estimates the bytes its answer will take from its arguments and reserves them
//! in the engine's memory pool for the length of the call: past the budget, the call
//! is refused before it allocates, with the pool's "resources exhausted" error.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use deltalake::arrow::compute::cast;
use deltalake::arrow::compute::kernels::length::length;
use deltalake::arrow::datatypes::{
    DataType, FieldRef, Int64Type, IntervalMonthDayNanoType, TimeUnit,
};
use deltalake::datafusion::common::{Result, ScalarValue};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::FunctionRegistry as _;
use deltalake::datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryPool, MemoryReservation,
};
use deltalake::datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};
use deltalake::datafusion::prelude::SessionContext;

/// How a function's answer grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: the text n times.
    Repeat,
    /// `lpad` / `rpad(text, n [, fill])`: n characters of up to 4 bytes.
    Pad,
    /// `range` / `generate_series`: one 8-byte value per step.
    Series,
    /// `array_repeat(value, n)`: the value n times.
    ArrayRepeat,
    /// `array_resize(list, n, value)`: n values.
    ArrayResize,
    /// `replace(text, from, to)`: `to` for every `from`.
    Replace,
    /// `regexp_replace(text, pattern, replacement)`: a replacement, with every group
    /// reference in it, at up to every position.
    RegexpReplace,
    /// `concat`, `concat_ws`, `array_concat`: at most the arguments together.
    Sum,
}

/// The functions this module bounds, by name.
const BOUNDED: [(&str, Growth); 11] = [
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("range", Growth::Series),
    ("generate_series", Growth::Series),
    ("array_repeat", Growth::ArrayRepeat),
    ("array_resize", Growth::ArrayResize),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::RegexpReplace),
    ("concat", Growth::Sum),
    ("concat_ws", Growth::Sum),
];

/// Replaces each function of [`BOUNDED`] registered with `ctx` by its bounded version,
/// which reserves its answer's bytes in `pool` before computing it.
pub(super) fn register(ctx: &SessionContext, pool: &Arc<dyn MemoryPool>) {
    for (name, growth) in BOUNDED {
        if let Ok(inner) = ctx.udf(name) {
            let bounded = Bounded {
                inner,
                growth,
                pool: Arc::clone(pool),
            };
            ctx.register_udf(ScalarUDF::new_from_impl(bounded));
        }
    }
}

/// A scalar function that reserves its answer's estimated bytes before it runs.
#[derive(Debug)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    pool: Arc<dyn MemoryPool>,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.growth == other.growth
    }
}

impl Eq for Bounded {}

impl Hash for Bounded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
        self.growth.hash(state);
    }
}

impl Bounded {
    /// `expr` with every call of the unbounded function at its top replaced by this one
    /// (a simplification may rebuild the call from DataFusion's own instance).
    fn rewrap(&self, expr: Expr) -> Expr {
        match expr {
            Expr::ScalarFunction(mut call) if call.func.name() == self.inner.name() => {
                call.func = Arc::new(ScalarUDF::new_from_impl(Bounded {
                    inner: Arc::clone(&self.inner),
                    growth: self.growth,
                    pool: Arc::clone(&self.pool),
                }));
                Expr::ScalarFunction(call)
            }
            other => other,
        }
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(match self.inner.simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                ExprSimplifyResult::Simplified(self.rewrap(expr))
            }
            original => original,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let estimate = estimate(self.growth, &args.args, args.number_rows)?;
        let what = format!("{}()", self.name());
        let _reservation = reserve(&self.pool, &what, estimate, args.number_rows)?;
        self.inner.invoke_with_args(args)
    }
}

/// Reserves `bytes` in `pool` for `what`, or refuses with the pool's "resources
/// exhausted" error; the bytes are given back when the reservation is dropped.
pub(super) fn reserve(
    pool: &Arc<dyn MemoryPool>,
    what: &str,
    bytes: usize,
    rows: usize,
) -> Result<MemoryReservation> {
    let reservation = MemoryConsumer::new(what).register(pool);
    reservation.try_grow(bytes).map_err(|_| {
        DataFusionError::ResourcesExhausted(format!(
            "{what} would allocate about {} MiB for {rows} rows",
            bytes.div_ceil(1 << 20),
        ))
    })?;
    Ok(reservation)
}

/// The bytes at most of an answer that holds its arguments together (`concat`, `||`).
pub(super) fn sum_of(args: &[ColumnarValue], rows: usize) -> usize {
    let total = args
        .iter()
        .fold(0i64, |total, arg| total.saturating_add(bytes(arg, rows)));
    usize::try_from(total.max(0)).unwrap_or(usize::MAX)
}

/// The bytes `growth`'s answer takes at most for `args` over `rows` rows.
fn estimate(growth: Growth, args: &[ColumnarValue], rows: usize) -> Result<usize> {
    let total = match (growth, args) {
        (Growth::Repeat, [text, times]) => {
            per_row_sum(rows, &[lengths(text)?, ints(times)?], |v| {
                v[0].saturating_mul(v[1].max(0))
            })
        }
        (Growth::Pad, [text, width, rest @ ..]) => {
            let char_bytes = if rest.is_empty() { 1 } else { 4 };
            per_row_sum(rows, &[lengths(text)?, ints(width)?], |v| {
                v[0].saturating_add(v[1].max(0).saturating_mul(char_bytes))
            })
        }
        (Growth::Series, _) => series_values(args, rows)?.saturating_mul(8),
        (Growth::ArrayRepeat, [value, times]) => {
            per_row_sum(rows, &[ints(times)?], |v| v[0].max(0))
                .saturating_mul(bytes_per_row(value, rows).max(8))
        }
        (Growth::ArrayResize, [list, size, rest @ ..]) => {
            let value = rest.first().map_or(8, |v| bytes_per_row(v, rows).max(8));
            per_row_sum(rows, &[ints(size)?], |v| v[0].max(0))
                .saturating_mul(value)
                .saturating_add(bytes(list, rows))
        }
        (Growth::Replace, [text, from, to]) => {
            let values = [lengths(text)?, lengths(from)?, lengths(to)?];
            per_row_sum(rows, &values, |v| {
                let matches = v[0] / v[1].max(1) + 1;
                v[0].saturating_add(matches.saturating_mul(v[2]))
            })
        }
        (Growth::RegexpReplace, [text, _pattern, replacement, ..]) => {
            let references = group_references(replacement);
            let values = [lengths(text)?, lengths(replacement)?];
            per_row_sum(rows, &values, |v| {
                let each = v[1].saturating_add(references.saturating_mul(v[0]));
                v[0].saturating_add((v[0] + 1).saturating_mul(each))
            })
        }
        _ => return Ok(sum_of(args, rows)),
    };
    Ok(usize::try_from(total.max(0)).unwrap_or(usize::MAX))
}

/// One argument's values row by row: a constant, or a value per row (null: 0).
enum PerRow {
    Constant(i64),
    Rows(Int64Array),
}

impl PerRow {
    fn at(&self, row: usize) -> i64 {
        match self {
            Self::Constant(value) => *value,
            Self::Rows(values) if values.is_valid(row) => values.value(row),
            Self::Rows(_) => 0,
        }
    }
}

/// The sum over `rows` rows of `f` of the arguments' values in each row.
fn per_row_sum(rows: usize, args: &[PerRow], f: impl Fn(&[i64]) -> i64) -> i64 {
    if args.iter().all(|a| matches!(a, PerRow::Constant(_))) {
        let values: Vec<i64> = args.iter().map(|a| a.at(0)).collect();
        return f(&values).saturating_mul(i64::try_from(rows).unwrap_or(i64::MAX));
    }
    let mut values = vec![0; args.len()];
    (0..rows).fold(0i64, |total, row| {
        for (value, arg) in values.iter_mut().zip(args) {
            *value = arg.at(row);
        }
        total.saturating_add(f(&values))
    })
}

/// An integer argument's values.
fn ints(arg: &ColumnarValue) -> Result<PerRow> {
    Ok(match arg {
        ColumnarValue::Scalar(value) => {
            PerRow::Constant(match value.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(v)) => v,
                _ => 0,
            })
        }
        ColumnarValue::Array(array) => PerRow::Rows(
            cast(array, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone(),
        ),
    })
}

/// A text argument's lengths in bytes.
fn lengths(arg: &ColumnarValue) -> Result<PerRow> {
    Ok(match arg {
        ColumnarValue::Scalar(value) => PerRow::Constant(match value {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => i64::try_from(s.len()).unwrap_or(i64::MAX),
            _ => 0,
        }),
        ColumnarValue::Array(array) => {
            let lengths = length(array.as_ref())?;
            PerRow::Rows(
                cast(&lengths, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            )
        }
    })
}

/// The bytes an argument takes over `rows` rows (a constant counted once per row).
fn bytes(arg: &ColumnarValue, rows: usize) -> i64 {
    let total = match arg {
        ColumnarValue::Scalar(value) => value.size().saturating_mul(rows),
        ColumnarValue::Array(array) => array.get_array_memory_size(),
    };
    i64::try_from(total).unwrap_or(i64::MAX)
}

fn bytes_per_row(arg: &ColumnarValue, rows: usize) -> i64 {
    match arg {
        ColumnarValue::Scalar(value) => i64::try_from(value.size()).unwrap_or(i64::MAX),
        ColumnarValue::Array(_) => bytes(arg, rows) / i64::try_from(rows.max(1)).unwrap_or(1),
    }
}

/// How many `$n` or `\n` group references a constant replacement holds; a column of
/// replacements is taken to hold one in every byte.
fn group_references(replacement: &ColumnarValue) -> i64 {
    match replacement {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)))
        | ColumnarValue::Scalar(ScalarValue::LargeUtf8(Some(s)))
        | ColumnarValue::Scalar(ScalarValue::Utf8View(Some(s))) => {
            i64::try_from(s.matches(['$', '\\']).count()).unwrap_or(i64::MAX)
        }
        ColumnarValue::Scalar(_) => 0,
        ColumnarValue::Array(array) => {
            i64::try_from(array.get_array_memory_size()).unwrap_or(i64::MAX)
        }
    }
}

/// The values `range` / `generate_series` would produce over `rows` rows: integers,
/// or dates and timestamps stepped by an interval.
fn series_values(args: &[ColumnarValue], rows: usize) -> Result<i64> {
    if args.iter().any(|a| a.data_type().is_null()) {
        return Ok(0);
    }
    let temporal = matches!(
        args[0].data_type(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    );
    if !temporal {
        let values: Vec<PerRow> = args.iter().map(ints).collect::<Result<_>>()?;
        return Ok(match values.len() {
            1 => per_row_sum(rows, &values, |v| v[0].max(0)),
            2 => per_row_sum(rows, &values, |v| v[1].saturating_sub(v[0]).max(0)),
            _ => per_row_sum(rows, &values, |v| steps(v[0], v[1], i128::from(v[2]))),
        });
    }
    let [start, stop, step] = args else {
        return Ok(0);
    };
    let micros = |arg: &ColumnarValue| -> Result<PerRow> {
        // A column stays as it is; a constant becomes one row.
        let array = arg.to_array(1)?;
        let as_micros = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let values = cast(&as_micros, &DataType::Int64)?;
        Ok(match arg {
            ColumnarValue::Scalar(_) => PerRow::Constant(first(&values)),
            ColumnarValue::Array(_) => PerRow::Rows(values.as_primitive::<Int64Type>().clone()),
        })
    };
    let step_nanos = interval_nanos(step)?;
    let (start, stop) = (micros(start)?, micros(stop)?);
    Ok(per_row_sum(rows, &[start, stop, step_nanos], |v| {
        // Microseconds over a step in microseconds.
        steps(v[0], v[1], i128::from(v[2]) / 1000)
    }))
}

/// The values from `start` to `stop` by `step`. A zero step is one finer than the
/// unit of a date or timestamp series (an integer step of 0 is refused by the function
/// itself): counted as a nanosecond.
fn steps(start: i64, stop: i64, step: i128) -> i64 {
    let span = i128::from(stop) - i128::from(start);
    if step == 0 {
        // A step under a microsecond: nanoseconds.
        return i64::try_from(span.unsigned_abs().saturating_mul(1000)).unwrap_or(i64::MAX);
    }
    if span.signum() != step.signum() && span != 0 {
        return 0;
    }
    i64::try_from(span / step + 1).unwrap_or(i64::MAX)
}

/// The shortest length an interval step can have, in nanoseconds: a month is at least
/// 28 days and a day at least 23 hours.
fn interval_nanos(step: &ColumnarValue) -> Result<PerRow> {
    const DAY: i64 = 23 * 3600 * 1_000_000_000;
    let nanos = |months: i32, days: i32, nanos: i64| -> i64 {
        i64::from(months)
            .saturating_mul(28 * DAY)
            .saturating_add(i64::from(days).saturating_mul(DAY))
            .saturating_add(nanos)
    };
    Ok(match step {
        ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(v))) => {
            PerRow::Constant(nanos(v.months, v.days, v.nanoseconds))
        }
        ColumnarValue::Scalar(_) => PerRow::Constant(0),
        ColumnarValue::Array(array) => {
            let intervals = array.as_primitive_opt::<IntervalMonthDayNanoType>();
            let values: Int64Array = match intervals {
                Some(intervals) => intervals
                    .iter()
                    .map(|v| v.map(|v| nanos(v.months, v.days, v.nanoseconds)))
                    .collect(),
                None => Int64Array::from(vec![0; array.len()]),
            };
            PerRow::Rows(values)
        }
    })
}

fn first(values: &ArrayRef) -> i64 {
    let values = values.as_primitive::<Int64Type>();
    if values.is_empty() || values.is_null(0) {
        0
    } else {
        values.value(0)
    }
}
