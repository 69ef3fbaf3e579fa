#!/usr/bin/env python3
"""Fit statsforecast's AutoETS (season length 7, 52 or 12 by `--frequency`) on a sample of series for `herd bench train`.

Prints one JSON line on stdout (everything else goes to stderr) so the Rust side can
parse it directly. Only the fit+forecast is timed; reading, filling and scoring are not,
because Herd's figure being compared against is its training throughput.
"""
import argparse
import json
import sys
import time
import warnings

try:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import statsforecast
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, NaNModel

    from bench_scoring import CALENDARS, wape_accuracy
except ImportError as e:
    print(f"bench_statsforecast: missing dependency ({e.name}): pip install statsforecast pyarrow", file=sys.stderr)
    sys.exit(2)

FREQ, SEASON = CALENDARS["daily"]


def seasonal_naive(train, h):
    """Repeat the last observed cycle (or whatever shorter history there is)."""
    if len(train) == 0:
        return np.zeros(h)
    week = train[-SEASON:]
    return np.resize(week, h) if len(week) == SEASON else np.full(h, week.mean())


def load_series(path, keys):
    """Read only the sampled keys and return {key: daily sales array, gaps filled with 0}."""
    table = pq.read_table(path, columns=["store_id", "item_id", "date", "sales"])
    key_col = pc.binary_join_element_wise(table["store_id"], table["item_id"], "/")
    table = table.append_column("key", key_col).filter(pc.is_in(key_col, value_set=pa.array(keys, pa.string())))
    df = table.select(["key", "date", "sales"]).to_pandas()
    df["date"] = pd.to_datetime(df["date"])
    out = {}
    for key, g in df.groupby("key", sort=False):
        g = g.sort_values("date")
        # A key may start late: its series begins at its first row, not the file's.
        s = g.set_index("date")["sales"].asfreq(FREQ, fill_value=0.0).fillna(0.0)
        out[key] = s
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--horizon", type=int, default=28)
    ap.add_argument("--frequency", choices=sorted(CALENDARS), default="daily")
    ap.add_argument("--n-jobs", type=int, default=1)
    args = ap.parse_args()
    h = args.horizon
    global FREQ, SEASON
    FREQ, SEASON = CALENDARS[args.frequency]
    # Keep stdout clean for the JSON line; statsforecast/numpy warnings go to stderr anyway.
    warnings.simplefilter("ignore", RuntimeWarning)

    with open(args.keys) as f:
        keys = list(dict.fromkeys(line.strip() for line in f if line.strip()))
    series = load_series(args.input, keys)
    missing = [k for k in keys if k not in series]
    if missing:
        print(f"bench_statsforecast: {len(missing)} keys not in {args.input}, e.g. {missing[0]}", file=sys.stderr)
    keys = [k for k in keys if k in series]
    if not keys:
        print("bench_statsforecast: none of the keys were found", file=sys.stderr)
        sys.exit(1)

    train, test, parts = {}, {}, []
    for k in keys:
        y = series[k].to_numpy(dtype=np.float64)
        train[k], test[k] = y[:-h] if len(y) > h else y[:0], y[-h:]
        if len(train[k]):  # a key with no training days cannot be given to statsforecast at all
            idx = series[k].index[: len(train[k])]
            parts.append(pd.DataFrame({"unique_id": k, "ds": idx, "y": train[k]}))
    train_df = pd.concat(parts, ignore_index=True)

    # Warm-up outside the timing: older statsforecast releases JIT-compile ETS with numba
    # on first use, which would otherwise be billed to the first series.
    AutoETS(season_length=SEASON).forecast(y=np.resize(np.arange(SEASON, dtype=float), 4 * SEASON), h=SEASON)

    # NaNModel as fallback: a key AutoETS rejects (e.g. "tiny datasets") yields NaN instead of
    # aborting the whole batch, so the timing stays one parallel call and failures stay countable.
    sf = StatsForecast(models=[AutoETS(season_length=SEASON)], freq=FREQ, n_jobs=args.n_jobs,
                       fallback_model=NaNModel())
    t0 = time.perf_counter()
    fc = sf.forecast(df=train_df, h=h)
    seconds = time.perf_counter() - t0

    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    preds = {k: g["AutoETS"].to_numpy() for k, g in fc.groupby("unique_id", sort=False)}
    acc, base, fallbacks = {}, {}, 0
    for k in keys:
        yhat = preds.get(k)
        n = len(test[k])
        if yhat is None or len(yhat) != h or not np.all(np.isfinite(yhat)):
            # Naive-mean forecast for keys statsforecast could not fit (or never saw).
            fallbacks += 1
            yhat = np.full(h, train[k].mean() if len(train[k]) else 0.0)
        acc[k] = wape_accuracy(test[k], yhat[:n])
        base[k] = wape_accuracy(test[k], seasonal_naive(train[k], h)[:n])
    if fallbacks:
        print(f"bench_statsforecast: {fallbacks} keys fell back to a naive-mean forecast", file=sys.stderr)

    print(json.dumps({
        "tool": "statsforecast",
        "model": f"AutoETS(season_length={SEASON})",
        "series": len(keys),
        "seconds": round(seconds, 4),
        "series_per_s": round(len(parts) / seconds, 2) if seconds > 0 else None,
        "mean_accuracy": round(float(np.mean(list(acc.values()))), 4),
        "mean_baseline_accuracy": round(float(np.mean(list(base.values()))), 4),
        "fallbacks": fallbacks,
        "statsforecast_version": statsforecast.__version__,
        "accuracy_by_key": {k: round(float(v), 4) for k, v in acc.items()},
    }))


if __name__ == "__main__":
    main()
