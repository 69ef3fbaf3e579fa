//! `herd generate FILE`: synthetic sales to a file.

use anyhow::Context;

use crate::args::GenerateArgs;
use crate::progress::Progress;

pub async fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let spec = args.spec.spec();
    let path = args.output.clone();
    let progress = Progress::new("generate", Some(spec.slots()));
    let frequency = args.frequency;
    let summary = tokio::task::spawn_blocking(move || {
        let result = match frequency {
            herd_schemas::Frequency::Daily => {
                herd_ingest::generate::write_file(&spec, &path, None, &|rows| {
                    progress.set(rows, "")
                })
            }
            periodic => herd_ingest::generate::write_periodic(&spec, periodic, &path, None),
        };
        progress.finish();
        result
    })
    .await
    .context("the generator stopped unexpectedly")??;
    println!(
        "wrote {} rows of {} series to {} ({:.1} MB) in {:.2} s ({:.0} rows/s)",
        summary.rows,
        summary.series,
        args.output.display(),
        summary.bytes as f64 / 1e6,
        summary.seconds,
        summary.rows as f64 / summary.seconds.max(1e-9)
    );
    Ok(())
}
