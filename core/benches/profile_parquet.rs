//! Profiles a Parquet file the way the `dataset.profile` job does: stored through the blob store
//! (a local directory), validated as on upload, then read by byte ranges in two passes. Prints
//! rows per second. Peak memory: run the built binary under `/usr/bin/time -v`.
//!
//! Run: `cargo bench -p trellis-core --bench profile_parquet -- FILE.parquet`

use std::time::Instant;

use trellis_core::storage::Blobs;

fn main() {
    let path = std::env::args().skip(1).find(|a| !a.starts_with("--")).expect("usage: profile_parquet FILE.parquet");
    let path = std::path::PathBuf::from(path);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let root = std::env::temp_dir().join(format!("trellis-bench-{}", std::process::id()));
    let blobs = Blobs::local(&root).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let key = "0".repeat(64);
    runtime.block_on(blobs.put_file(&key, &path)).unwrap();

    let start = Instant::now();
    let (_, rows) = trellis_core::parquet_files::validate(&path).expect("a valid Parquet file");
    let validate = start.elapsed();
    let start = Instant::now();
    let handle = runtime.handle().clone();
    let file = blobs.ranged(&key, size);
    let profile = runtime
        .block_on(runtime.spawn_blocking(move || trellis_core::parquet_files::profile(&handle, file, None, |_, _| {})))
        .unwrap()
        .expect("profile");
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "{}: {} rows x {} columns; validation {:.2} s ({:.0} rows/s); profiling {:.2} s ({:.0} rows/s); total {:.0} rows/s",
        path.display(),
        profile.rows,
        profile.columns.len(),
        validate.as_secs_f64(),
        rows as f64 / validate.as_secs_f64(),
        took.as_secs_f64(),
        profile.rows as f64 / took.as_secs_f64(),
        profile.rows as f64 / (took + validate).as_secs_f64(),
    );
}
