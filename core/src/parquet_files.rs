//! Parquet dataset files: checks on upload, profiling with the types the file declares, and rows
//! as text for previews and splits. Stored files are read by byte ranges (footer, then only the
//! column chunks a pass needs), so nothing is copied whole into memory or to disk.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Schema, TimeUnit};
use futures::StreamExt;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use tokio::runtime::Handle;
use trellis_ml::profile::{ColumnAcc, ColumnProfile, ColumnType, DEFAULT_VALUE_BUDGET, HistogramPass, Profile, Profiler, ValueBudget};

use crate::storage::RangedBlob;
use crate::{Error, Result};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 16 * 1024;

/// The dataset type of an Arrow column, or `None` when datasets cannot hold it (lists, structs,
/// maps, binary).
pub fn column_type(t: &DataType) -> Option<ColumnType> {
    use DataType::*;
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Some(ColumnType::Integer),
        Float16 | Float32 | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
            Some(ColumnType::Float)
        }
        Boolean => Some(ColumnType::Boolean),
        Utf8 | LargeUtf8 | Utf8View => Some(ColumnType::String),
        Date32 | Date64 | Timestamp(..) => Some(ColumnType::Timestamp),
        Dictionary(_, values) => column_type(values),
        _ => None,
    }
}

/// Column names and types, refusing what a dataset cannot hold (the message names the column).
pub fn check_schema(schema: &Schema) -> Result<(Vec<String>, Vec<ColumnType>)> {
    if schema.fields().is_empty() {
        return Err(Error::bad_request("the Parquet file has no columns"));
    }
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, f) in schema.fields().iter().enumerate() {
        let name = f.name().trim().to_string();
        if name.is_empty() {
            return Err(Error::bad_request(format!("column {}: the column has no name", i + 1)));
        }
        if !seen.insert(name.clone()) {
            return Err(Error::bad_request(format!("column {}: duplicate column name '{name}'", i + 1)));
        }
        let Some(t) = column_type(f.data_type()) else {
            return Err(Error::bad_request(format!(
                "column '{name}': type {} is not supported; datasets hold numbers, booleans, strings, dates and timestamps",
                f.data_type()
            )));
        };
        names.push(name);
        types.push(t);
    }
    Ok((names, types))
}

fn unreadable(e: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("the file is not a readable Parquet file: {e}"))
}

/// Reads a received file whole: footer, schema, and every row group decoded (so a corrupt page
/// is refused now, not found by profiling later). Returns (columns, rows).
pub fn validate(path: &Path) -> Result<(Vec<String>, u64)> {
    let file = std::fs::File::open(path).map_err(|e| Error::bad_request(format!("the file could not be read: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(unreadable)?;
    let (names, _) = check_schema(builder.schema())?;
    let reader = builder.with_batch_size(64 * 1024).build().map_err(unreadable)?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| Error::bad_request(format!("the Parquet data after row {rows} could not be decoded: {e}")))?;
        rows += batch.num_rows() as u64;
    }
    if rows == 0 {
        return Err(Error::bad_request("the Parquet file has columns but no rows"));
    }
    Ok((names, rows))
}

fn formatter(a: &dyn Array) -> anyhow::Result<ArrayFormatter<'_>> {
    Ok(ArrayFormatter::try_new(a, &FormatOptions::default())?)
}

macro_rules! numbers {
    ($acc:expr, $array:expr, $t:ty) => {
        for v in $array.as_primitive::<$t>().iter() {
            match v {
                Some(v) => $acc.push_f64(v as f64),
                None => $acc.push_missing(),
            }
        }
    };
}

fn texts<'a>(acc: &mut ColumnAcc, values: impl Iterator<Item = Option<&'a str>>) {
    for v in values {
        match v {
            Some(s) => acc.push_text(s),
            None => acc.push_missing(),
        }
    }
}

/// A dictionary-encoded string column: each key counted, then each distinct value pushed once
/// with its count.
fn dictionary_texts(acc: &mut ColumnAcc, a: &dyn Array) -> anyhow::Result<()> {
    let dict = a.as_dictionary_opt::<Int32Type>().ok_or_else(|| anyhow::anyhow!("a dictionary column without 32-bit keys"))?;
    let mut counts = vec![0u64; dict.values().len()];
    let keys = dict.keys();
    if keys.null_count() == 0 {
        keys.values().iter().for_each(|&k| counts[k as usize] += 1);
    } else {
        for k in keys.iter() {
            match k {
                Some(k) => counts[k as usize] += 1,
                None => acc.push_missing(),
            }
        }
    }
    let values = dict.values();
    let text = |i: usize| -> Option<&str> {
        match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().is_valid(i).then(|| values.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => values.as_string::<i64>().is_valid(i).then(|| values.as_string::<i64>().value(i)),
            _ => None,
        }
    };
    for (i, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
        match text(i) {
            Some(s) => acc.push_text_n(s, n),
            None => (0..n).for_each(|_| acc.push_missing()),
        }
    }
    Ok(())
}

/// The footer, asking for string columns as dictionaries: Parquet writers dictionary-encode
/// strings, so each distinct value is then counted once per batch instead of once per row.
fn with_dictionary_strings(footer: &ArrowReaderMetadata) -> anyhow::Result<ArrowReaderMetadata> {
    let fields: Vec<arrow_schema::Field> = footer
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => {
                f.as_ref().clone().with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(f.data_type().clone())))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = std::sync::Arc::new(Schema::new_with_metadata(fields, footer.schema().metadata().clone()));
    Ok(ArrowReaderMetadata::try_new(footer.metadata().clone(), ArrowReaderOptions::new().with_schema(schema))?)
}

/// Feeds one column of a batch to its accumulator.
fn push_column(acc: &mut ColumnAcc, t: ColumnType, a: &dyn Array) -> anyhow::Result<()> {
    match a.data_type() {
        DataType::Int8 => numbers!(acc, a, Int8Type),
        DataType::Int16 => numbers!(acc, a, Int16Type),
        DataType::Int32 => numbers!(acc, a, Int32Type),
        DataType::Int64 => numbers!(acc, a, Int64Type),
        DataType::UInt8 => numbers!(acc, a, UInt8Type),
        DataType::UInt16 => numbers!(acc, a, UInt16Type),
        DataType::UInt32 => numbers!(acc, a, UInt32Type),
        DataType::UInt64 => numbers!(acc, a, UInt64Type),
        DataType::Float32 => numbers!(acc, a, Float32Type),
        DataType::Float64 => numbers!(acc, a, Float64Type),
        DataType::Boolean => {
            for v in a.as_boolean().iter() {
                match v {
                    Some(b) => acc.push_text(if b { "true" } else { "false" }),
                    None => acc.push_missing(),
                }
            }
        }
        DataType::Timestamp(unit, None) => {
            let scale = |v: i64| match unit {
                TimeUnit::Second => v.saturating_mul(1_000_000),
                TimeUnit::Millisecond => v.saturating_mul(1_000),
                TimeUnit::Microsecond => v,
                TimeUnit::Nanosecond => v.div_euclid(1_000),
            };
            macro_rules! times {
                ($t:ty) => {
                    for v in a.as_primitive::<$t>().iter() {
                        match v {
                            Some(v) => acc.push_timestamp_micros(scale(v)),
                            None => acc.push_missing(),
                        }
                    }
                };
            }
            match unit {
                TimeUnit::Second => times!(TimestampSecondType),
                TimeUnit::Millisecond => times!(TimestampMillisecondType),
                TimeUnit::Microsecond => times!(TimestampMicrosecondType),
                TimeUnit::Nanosecond => times!(TimestampNanosecondType),
            }
        }
        DataType::Date32 => {
            for v in a.as_primitive::<Date32Type>().iter() {
                match v {
                    Some(d) => acc.push_date_days(d as i64),
                    None => acc.push_missing(),
                }
            }
        }
        DataType::Dictionary(key, value)
            if **key == DataType::Int32 && matches!(**value, DataType::Utf8 | DataType::LargeUtf8) =>
        {
            dictionary_texts(acc, a)?
        }
        DataType::Utf8 => texts(acc, a.as_string::<i32>().iter()),
        DataType::LargeUtf8 => texts(acc, a.as_string::<i64>().iter()),
        DataType::Utf8View => texts(acc, a.as_string_view().iter()),
        _ => {
            // Decimals, half floats, dates, timestamps, dictionaries: through their text form.
            let f = formatter(a)?;
            let mut s = String::new();
            for i in 0..a.len() {
                if a.is_null(i) {
                    acc.push_missing();
                    continue;
                }
                s.clear();
                use std::fmt::Write;
                write!(s, "{}", f.value(i))?;
                if t.is_numeric() {
                    match s.trim().parse::<f64>() {
                        Ok(x) => acc.push_f64(x),
                        Err(_) => acc.push_missing(),
                    }
                } else {
                    acc.push_text(&s);
                }
            }
        }
    }
    Ok(())
}

/// The numbers of a numeric column, nulls skipped.
fn for_each_number(a: &dyn Array, mut f: impl FnMut(f64)) -> anyhow::Result<()> {
    macro_rules! each {
        ($t:ty) => {
            a.as_primitive::<$t>().iter().flatten().for_each(|v| f(v as f64))
        };
    }
    match a.data_type() {
        DataType::Int8 => each!(Int8Type),
        DataType::Int16 => each!(Int16Type),
        DataType::Int32 => each!(Int32Type),
        DataType::Int64 => each!(Int64Type),
        DataType::UInt8 => each!(UInt8Type),
        DataType::UInt16 => each!(UInt16Type),
        DataType::UInt32 => each!(UInt32Type),
        DataType::UInt64 => each!(UInt64Type),
        DataType::Float32 => each!(Float32Type),
        DataType::Float64 => each!(Float64Type),
        _ => {
            let fmt = formatter(a)?;
            for i in 0..a.len() {
                if !a.is_null(i) {
                    if let Ok(x) = fmt.value(i).to_string().trim().parse::<f64>() {
                        f(x);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A stored file's footer (schema, row groups), read once per operation and shared by its passes.
fn footer(runtime: &Handle, file: &RangedBlob) -> anyhow::Result<ArrowReaderMetadata> {
    let mut file = file.clone();
    Ok(runtime.block_on(ArrowReaderMetadata::load_async(&mut file, ArrowReaderOptions::new()))?)
}

/// Streams a stored file's batches (optionally only some row groups and some top-level columns)
/// on the blocking thread that calls it, fetching through the runtime.
fn each_batch(
    runtime: &Handle,
    file: RangedBlob,
    footer: &ArrowReaderMetadata,
    row_groups: Option<Vec<usize>>,
    columns: Option<Vec<usize>>,
    mut f: impl FnMut(&RecordBatch) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(file, footer.clone());
    if let Some(c) = columns {
        let mask = ProjectionMask::roots(builder.parquet_schema(), c);
        builder = builder.with_projection(mask);
    }
    if let Some(g) = row_groups {
        builder = builder.with_row_groups(g);
    }
    let mut stream = builder.with_batch_size(BATCH_ROWS).build()?;
    while let Some(batch) = runtime.block_on(stream.next()) {
        f(&batch?)?;
    }
    Ok(())
}

/// Row groups dealt into up to `n` parts of about equal rows.
fn deal(groups: &[i64], n: usize) -> Vec<Vec<usize>> {
    let n = n.clamp(1, groups.len().max(1));
    let mut parts: Vec<(i64, Vec<usize>)> = vec![(0, Vec::new()); n];
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(groups[i]));
    for i in order {
        let lightest = parts.iter_mut().min_by_key(|(rows, _)| *rows).expect("at least one part");
        lightest.0 += groups[i];
        lightest.1.push(i);
    }
    parts.into_iter().map(|(_, mut g)| {
        g.sort_unstable();
        g
    }).collect()
}

/// Runs `work` on each part, the first on this thread (which calls `tick` after each batch, to
/// report progress) and the others on their own threads; results in part order.
fn in_parallel<T: Send>(
    parts: &[Vec<usize>],
    work: impl Fn(&[usize], &mut dyn FnMut()) -> anyhow::Result<T> + Sync,
    mut tick: impl FnMut(),
) -> anyhow::Result<Vec<T>> {
    std::thread::scope(|scope| {
        let others: Vec<_> = parts[1..].iter().map(|part| scope.spawn(|| work(part, &mut || {}))).collect();
        let first = work(&parts[0], &mut tick);
        let mut all = vec![first?];
        for h in others {
            all.push(h.join().map_err(|_| anyhow::anyhow!("a profiling thread panicked"))??);
        }
        Ok(all)
    })
}

/// Threads a profile (Parquet or CSV) uses: the machine's cores, at most 4.
pub(crate) fn profile_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
}

/// Profiles a stored Parquet file in one pass (a second, reading only numeric columns, when its
/// numbers outgrow the value budget), its row groups dealt among the machine's cores and the
/// partial results merged. `progress(rows, pass)` is called about every 50,000 rows. Call on a
/// blocking thread.
pub fn profile(
    runtime: &Handle,
    file: RangedBlob,
    reference: Option<&[ColumnProfile]>,
    mut progress: impl FnMut(u64, u8),
) -> anyhow::Result<Profile> {
    let footer = footer(runtime, &file)?;
    let (names, types) = check_schema(footer.schema()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let groups: Vec<i64> = footer.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
    let parts = deal(&groups, profile_threads());
    let declared: Vec<Option<ColumnType>> = types.iter().map(|t| Some(*t)).collect();
    let by_dictionary = with_dictionary_strings(&footer)?;
    let done = AtomicU64::new(0);
    let budget = ValueBudget::new(DEFAULT_VALUE_BUDGET);
    let next_report = std::cell::Cell::new(50_000u64);
    let mut report = |pass: u8| {
        let rows = done.load(Ordering::Relaxed);
        if rows >= next_report.get() {
            progress(rows, pass);
            next_report.set(rows + 50_000);
        }
    };
    let profilers = in_parallel(
        &parts,
        |part, tick| {
            let mut profiler = Profiler::with_types(names.clone(), &declared).with_budget(&budget);
            each_batch(runtime, file.clone(), &by_dictionary, Some(part.to_vec()), None, |batch| {
                for (i, column) in batch.columns().iter().enumerate() {
                    push_column(profiler.column(i), types[i], column.as_ref())?;
                }
                profiler.add_rows(batch.num_rows() as u64);
                done.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                tick();
                Ok(())
            })?;
            Ok(profiler)
        },
        || report(1),
    )?;
    let mut pass: HistogramPass = Profiler::finish_parts(profilers);
    for c in reference.unwrap_or(&[]) {
        if let Some(h) = &c.histogram {
            pass.add_reference(&c.name, &h.edges);
        }
    }
    if pass.needed() {
        let wanted: Vec<usize> = (0..types.len()).filter(|&i| pass.wants(i)).collect();
        done.store(0, Ordering::Relaxed);
        next_report.set(50_000);
        let template = pass.empty_copy();
        let counted = in_parallel(
            &parts,
            |part, tick| {
                let mut counts = template.empty_copy();
                each_batch(runtime, file.clone(), &footer, Some(part.to_vec()), Some(wanted.clone()), |batch| {
                    for (column, &i) in batch.columns().iter().zip(&wanted) {
                        for_each_number(column.as_ref(), |x| counts.push_f64(i, x))?;
                    }
                    done.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    tick();
                    Ok(())
                })?;
                Ok(counts)
            },
            || report(2),
        )?;
        counted.into_iter().for_each(|c| pass.merge_counts(c));
    }
    Ok(pass.finish())
}

/// The cells of a batch as text (nulls empty), row by row.
fn batch_rows(batch: &RecordBatch) -> anyhow::Result<Vec<Vec<String>>> {
    let formatters = batch.columns().iter().map(|c| formatter(c.as_ref())).collect::<anyhow::Result<Vec<_>>>()?;
    Ok((0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(c, f)| if c.is_null(r) { String::new() } else { f.value(r).to_string() })
                .collect()
        })
        .collect())
}

/// Column names and a page of rows as text, reading only the row groups the page touches.
pub async fn preview(file: RangedBlob, offset: u64, limit: usize) -> anyhow::Result<(Vec<String>, Vec<Vec<String>>)> {
    let builder = ParquetRecordBatchStreamBuilder::new(file).await?;
    let columns = builder.schema().fields().iter().map(|f| f.name().to_string()).collect();
    let mut stream = builder.with_offset(offset as usize).with_limit(limit).with_batch_size(limit.max(1)).build()?;
    let mut rows = Vec::with_capacity(limit);
    while let Some(batch) = stream.next().await {
        rows.extend(batch_rows(&batch?)?);
    }
    rows.truncate(limit);
    Ok((columns, rows))
}

/// The number of rows, from the footer.
pub async fn row_count(file: RangedBlob) -> anyhow::Result<u64> {
    let builder = ParquetRecordBatchStreamBuilder::new(file).await?;
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

/// Calls `f(row, text)` for each value of one column (nulls as empty text). Call on a blocking thread.
pub fn for_each_text(
    runtime: &Handle,
    file: RangedBlob,
    column: &str,
    mut f: impl FnMut(u64, &str) -> Result<()>,
) -> Result<()> {
    let footer = footer(runtime, &file)?;
    let Some(index) = footer.schema().fields().iter().position(|c| c.name().trim() == column) else {
        return Err(Error::bad_request(format!("column: '{column}' is not a column of this version")));
    };
    let mut row = 0u64;
    let mut failure: Option<Error> = None;
    each_batch(runtime, file, &footer, None, Some(vec![index]), |batch| {
        let a = batch.column(0);
        let fmt = formatter(a.as_ref())?;
        for i in 0..a.len() {
            let text = if a.is_null(i) { String::new() } else { fmt.value(i).to_string() };
            if let Err(e) = f(row, &text) {
                failure = Some(e);
                anyhow::bail!("stopped");
            }
            row += 1;
        }
        Ok(())
    })
    .or_else(|e| if failure.is_some() { Ok(()) } else { Err(e) })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Calls `f(column names, cells)` for each row, cells as text (nulls empty). Call on a blocking thread.
pub fn for_each_row(
    runtime: &Handle,
    file: RangedBlob,
    mut f: impl FnMut(&[String], &[String]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let footer = footer(runtime, &file)?;
    let names: Vec<String> = footer.schema().fields().iter().map(|c| c.name().to_string()).collect();
    each_batch(runtime, file, &footer, None, None, |batch| {
        for row in batch_rows(batch)? {
            f(&names, &row)?;
        }
        Ok(())
    })
}
