use herd_ingest::generate::*;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "stats" => stats(args[2].parse().unwrap()),
        _ => {
            let size: Size = args[2].parse().unwrap();
            let spec = GeneratorSpec::sized(size, DEFAULT_SEED);
            let s = write_file(&spec, Path::new(&args[3]), None, &|_| {}).unwrap();
            println!(
                "{} rows={} series={} bytes={} seconds={:.2} rows_per_s={:.0}",
                args[3], s.rows, s.series, s.bytes, s.seconds, s.rows as f64 / s.seconds
            );
        }
    }
}

fn stats(seed: u64) {
    let spec = GeneratorSpec::sized(Size::Small, seed);
    let (mut reg, mut oracle_ok, mut naive_ok, mut inter, mut late) = (0, 0, 0, 0, 0);
    let mut levels = vec![];
    let mut zero_inter = vec![];
    let d = spec.days;
    for s in 0..spec.series() as u32 {
        let m = SeriesModel::new(&spec, s);
        if m.first_day() > 0 { late += 1; continue; }
        let y: Vec<f64> = (0..d).map(|t| m.day(t).unwrap().sales).collect();
        if m.is_intermittent() {
            inter += 1;
            zero_inter.push(y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64);
            continue;
        }
        reg += 1;
        levels.push(y.iter().sum::<f64>() / d as f64);
        let h = (d - 28) as usize..d as usize;
        let tot: f64 = y[h.clone()].iter().sum();
        let e_or: f64 = h.clone().map(|t| (y[t] - m.expected_sales(t as u32).unwrap()).abs()).sum();
        // multi-step seasonal naive: repeat the last observed week
        let e_nv: f64 = h.clone().map(|t| (y[t] - y[d as usize - 28 - 7 + (t - (d as usize - 28)) % 7]).abs()).sum();
        if 1.0 - e_or / tot >= 0.8 { oracle_ok += 1; }
        if 1.0 - e_nv / tot >= 0.8 { naive_ok += 1; }
    }
    levels.sort_by(f64::total_cmp);
    println!(
        "seed={seed} regular={reg} intermittent={inter} late={late} median_level={:.1} oracle>=0.8: {:.2} naive>=0.8: {:.2} inter_zero_share={:.2}",
        levels[levels.len() / 2],
        oracle_ok as f64 / reg as f64,
        naive_ok as f64 / reg as f64,
        zero_inter.iter().sum::<f64>() / zero_inter.len() as f64
    );
}
