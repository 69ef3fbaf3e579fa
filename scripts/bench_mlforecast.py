#!/usr/bin/env python3
"""A global LightGBM through mlforecast on the same days Herd holds back, for
`herd bench train --lightgbm`.

One model is trained across every key on all but each key's last `horizon` days,
with lags, rolling means of the lags, calendar features and the price and promotion
as known future covariates (the recorded values of the held-back days, as Herd's
unseen-days run is given them), then forecasts the held-back days; each key is
scored by max(0, 1 - WAPE) as Herd scores. Prints one JSON line on stdout; everything
else goes to stderr. Only the fit and the forecast are timed.
"""
import argparse
import json
import sys
import time
import warnings

try:
    import lightgbm as lgb
    import mlforecast
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    from bench_scoring import CALENDARS, wape_accuracy
except ImportError as e:
    print(f"bench_mlforecast: missing dependency ({e.name}): pip install mlforecast lightgbm pyarrow pandas", file=sys.stderr)
    sys.exit(2)


def load(path, keys, freq):
    """Every row of `keys` (all keys when None) as unique_id, ds, y, price, promo: each
    key on a daily grid from its first to its last day, missing days 0 sales, prices
    carried forward."""
    table = pq.read_table(path, columns=["store_id", "item_id", "date", "sales", "price", "promo"])
    df = table.to_pandas()
    df["unique_id"] = df["store_id"] + "/" + df["item_id"]
    if keys is not None:
        df = df[df["unique_id"].isin(keys)]
    df = df.rename(columns={"date": "ds", "sales": "y"})
    df["ds"] = pd.to_datetime(df["ds"])
    df["promo"] = df["promo"].fillna(False).astype("int8")
    df = df[["unique_id", "ds", "y", "price", "promo"]].sort_values(["unique_id", "ds"])
    # Last write wins for a repeated day, as in Herd's windows.
    df = df.drop_duplicates(["unique_id", "ds"], keep="last")
    filled = []
    for uid, g in df.groupby("unique_id", sort=False):
        g = g.set_index("ds").asfreq(freq)
        g["unique_id"] = uid
        g["y"] = g["y"].fillna(0.0)
        g["promo"] = g["promo"].fillna(0).astype("int8")
        g["price"] = g["price"].ffill().bfill()
        filled.append(g.reset_index())
    return pd.concat(filled, ignore_index=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", required=True)
    ap.add_argument("--keys", help="a file of store/item keys, one a line (default: every key)")
    ap.add_argument("--horizon", type=int, default=28)
    ap.add_argument("--frequency", choices=sorted(CALENDARS), default="daily")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    h = args.horizon
    freq, season = CALENDARS[args.frequency]
    # Lags and calendar features for each calendar: the last periods, the same point
    # of the last cycle, and rolling means over a short and a long span.
    lags, short, long_, date_features = {
        "daily": ([1, 7, 14, 28], 7, 28, ["dayofweek", "month", "dayofyear"]),
        "weekly": ([1, 2, 4, 13, 52], 4, 13, ["month", "week"]),
        "monthly": ([1, 2, 3, 6, 12], 3, 12, ["month"]),
    }[args.frequency]
    warnings.simplefilter("ignore")

    keys = None
    if args.keys:
        with open(args.keys) as f:
            keys = list(dict.fromkeys(line.strip() for line in f if line.strip()))
    df = load(args.input, keys, freq)
    # Keys with at least four horizons of days: the longest lag plus a horizon to
    # learn from, then the held-back days.
    sizes = df.groupby("unique_id").size()
    df = df[df["unique_id"].isin(sizes[sizes >= 4 * h].index)]
    last = df.groupby("unique_id")["ds"].transform("max")
    held = df["ds"] > last - pd.tseries.frequencies.to_offset(freq) * h
    train, test = df[~held], df[held]

    fcst = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=63,
                                          n_jobs=args.threads, verbosity=-1)},
        freq=freq,
        lags=lags,
        lag_transforms={1: [RollingMean(window_size=short), RollingMean(window_size=long_)],
                        season: [RollingMean(window_size=4)]},
        date_features=date_features,
        num_threads=args.threads,
    )
    started = time.perf_counter()
    fcst.fit(train, static_features=[])
    fitted = time.perf_counter() - started
    future = test[["unique_id", "ds", "price", "promo"]]
    forecast = fcst.predict(h, X_df=future)
    seconds = time.perf_counter() - started

    merged = test.merge(forecast, on=["unique_id", "ds"], how="left")
    merged["lgbm"] = merged["lgbm"].fillna(0.0).clip(lower=0.0)
    accuracy = {uid: wape_accuracy(g["y"].to_numpy(), g["lgbm"].to_numpy())
                for uid, g in merged.groupby("unique_id", sort=False)}
    values = np.array(list(accuracy.values()))
    print(json.dumps({
        "tool": "mlforecast",
        "model": f"LGBMRegressor (global; lags {', '.join(map(str, lags))}, rolling means, calendar, price and promo as known future covariates)",
        "series": len(accuracy),
        "fit_seconds": round(fitted, 3),
        "seconds": round(seconds, 3),
        "mean_accuracy": round(float(values.mean()), 4),
        "share_at_least_0_8": round(float((values >= 0.8).mean()), 4),
        "mlforecast_version": mlforecast.__version__,
        "lightgbm_version": lgb.__version__,
        "accuracy_by_key": {k: round(float(v), 4) for k, v in accuracy.items()},
    }))


if __name__ == "__main__":
    main()
