//! Profiles a CSV file the way the `dataset.profile` job does (two streaming passes) and prints
//! rows per second. Peak memory: run the built binary under `/usr/bin/time -v`.
//!
//! Run: `cargo bench -p trellis-core --bench profile_csv -- FILE.csv`

use std::time::Instant;

fn main() {
    let path = std::env::args().skip(1).find(|a| !a.starts_with("--")).expect("usage: profile_csv FILE.csv");
    let gzip = path.ends_with(".gz");
    let start = Instant::now();
    let validated = trellis_core::datasets::validate_csv(std::path::Path::new(&path), gzip).expect("valid CSV");
    let validate = start.elapsed();
    let start = Instant::now();
    let open = || -> anyhow::Result<Box<dyn std::io::Read + Send>> { Ok(Box::new(std::fs::File::open(&path)?)) };
    let profile = trellis_core::datasets::profile_file(open, gzip, None, |_, _| {}).expect("profile");
    let took = start.elapsed();
    println!(
        "{path}: {} rows x {} columns; validation {:.2} s ({:.0} rows/s); profiling {:.2} s ({:.0} rows/s); total {:.0} rows/s",
        profile.rows,
        profile.columns.len(),
        validate.as_secs_f64(),
        validated.1 as f64 / validate.as_secs_f64(),
        took.as_secs_f64(),
        profile.rows as f64 / took.as_secs_f64(),
        profile.rows as f64 / (took + validate).as_secs_f64(),
    );
}
