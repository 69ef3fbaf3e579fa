//! Training cost and accuracy on synthetic retail series.
//!
//! `cargo run -p herd-models --release --example speed [series] [days] [all|spark]`
//! (defaults 2000 × 730, both configurations). Prints µs per series for `train()` with all candidates and
//! two folds, and for the Spark recipe (ridge only, one fold), single-threaded and on
//! two threads, with mean accuracy against the seasonal-naive baseline.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use herd_models::{FeatureSet, History, ModelKind, TrainOptions, train};

/// A PCG-style generator; the example needs no dependencies.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Knuth's method for small means, a rounded normal for large ones.
    fn poisson(&mut self, mean: f64) -> f64 {
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0);
        }
        let limit = (-mean).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= self.uniform();
            if p <= limit {
                return k;
            }
            k += 1.0;
        }
    }
}

struct Series {
    sales: Vec<f32>,
    price: Vec<f32>,
    promo: Vec<u8>,
}

/// Log-normal level (median ~20), trend, weekday profile, yearly wave, promotions
/// lifting 20–60%, price elasticity, Poisson counts; one series in ten intermittent.
fn generate(seed: u64, days: usize) -> Series {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let intermittent = rng.uniform() < 0.1;
    let level = if intermittent {
        0.3 + rng.uniform()
    } else {
        (3.0 + 0.8 * rng.normal()).exp()
    };
    let trend = 0.0008 * rng.normal();
    let weekday: Vec<f64> = (0..7)
        .map(|d| if d >= 4 { 1.3 } else { 0.9 } + 0.1 * rng.normal())
        .collect();
    let yearly = 0.15 * rng.uniform();
    let base_price = 2.0 + 8.0 * rng.uniform();
    let mut series = Series {
        sales: Vec::new(),
        price: Vec::new(),
        promo: Vec::new(),
    };
    for t in 0..days {
        let promo = rng.uniform() < 0.1;
        let price = base_price * (1.0 + 0.1 * rng.normal()).clamp(0.7, 1.3);
        let lift = if promo {
            1.2 + 0.4 * rng.uniform()
        } else {
            1.0
        };
        let season = 1.0 + yearly * (std::f64::consts::TAU * t as f64 / 365.25).sin();
        let elasticity = (price / base_price).powf(-1.5);
        let mean =
            level * (1.0 + trend * t as f64).max(0.1) * weekday[t % 7] * season * lift * elasticity;
        series.sales.push(rng.poisson(mean) as f32);
        series.price.push(price as f32);
        series.promo.push(u8::from(promo));
    }
    series
}

#[derive(Default)]
struct Summary {
    micros_per_series: f64,
    accuracy: f64,
    baseline: f64,
    failures: usize,
    chosen: BTreeMap<&'static str, usize>,
}

fn run(all: &[Series], start: NaiveDate, options: &TrainOptions) -> Summary {
    let mut summary = Summary::default();
    let clock = Instant::now();
    for s in all {
        let history = History {
            start,
            frequency: herd_models::Frequency::Daily,
            sales: &s.sales,
            price: &s.price,
            promo: &s.promo,
        };
        match train(&history, options) {
            Ok(trained) => {
                summary.accuracy += trained.metrics.accuracy;
                summary.baseline += trained.metrics.baseline_accuracy;
                *summary
                    .chosen
                    .entry(trained.model.kind().as_str())
                    .or_default() += 1;
            }
            Err(_) => summary.failures += 1,
        }
    }
    summary.micros_per_series = clock.elapsed().as_secs_f64() * 1e6 / all.len() as f64;
    let trained = (all.len() - summary.failures).max(1) as f64;
    summary.accuracy /= trained;
    summary.baseline /= trained;
    summary
}

/// Series per second with the work split over two threads (the benchmark machine).
fn two_threads(all: &[Series], start: NaiveDate, options: &TrainOptions) -> f64 {
    let clock = Instant::now();
    std::thread::scope(|scope| {
        for half in all.chunks(all.len().div_ceil(2)) {
            scope.spawn(move || run(half, start, options));
        }
    });
    all.len() as f64 / clock.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (count, days) = (number(0, 2000), number(1, 730));
    let only = args.get(2).map(String::as_str);
    let start = NaiveDate::from_ymd_opt(2023, 1, 2).unwrap_or_default();
    let all: Vec<Series> = (0..count as u64).map(|seed| generate(seed, days)).collect();

    let full = TrainOptions::default();
    let spark = TrainOptions {
        folds: 1,
        candidates: vec![ModelKind::Ridge],
        features: FeatureSet::Spark,
        ..TrainOptions::default()
    };
    let configs: Vec<(&str, &TrainOptions)> = [
        ("all", "all candidates, folds=2, full", &full),
        ("spark", "spark ridge only, folds=1", &spark),
    ]
    .into_iter()
    .filter(|(key, _, _)| only.is_none_or(|o| o == *key))
    .map(|(_, name, options)| (name, options))
    .collect();
    println!("{count} series x {days} days, single thread");
    for &(name, options) in &configs {
        let s = run(&all, start, options);
        println!(
            "{name:32} {:8.1} us/series  accuracy {:.4}  baseline {:.4}  failures {}  chosen {:?}",
            s.micros_per_series, s.accuracy, s.baseline, s.failures, s.chosen
        );
    }
    for &(name, options) in &configs {
        println!(
            "{name:32} {:8.0} series/s on 2 threads",
            two_threads(&all, start, options)
        );
    }
}
