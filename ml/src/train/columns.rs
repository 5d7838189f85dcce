//! Builds training columns from text cells, by the type profiling found for each column.

use std::collections::HashMap;

use super::{Column, Values, MISSING};
use crate::profile::{is_missing, parse_f64, ColumnType};

/// Collects one column's cells.
#[derive(Debug)]
pub struct ColumnBuilder {
    name: String,
    kind: ColumnType,
    /// Read every cell as a category, whatever its type (classification targets).
    categorical: bool,
    numbers: Vec<f64>,
    codes: Vec<u32>,
    levels: Vec<String>,
    index: HashMap<String, u32>,
}

/// Seconds since 1970 of `YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][Z|±HH:MM]`.
pub fn timestamp_seconds(s: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros() as f64 / 1e6);
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros() as f64 / 1e6);
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_micros() as f64 / 1e6);
        }
    }
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok().filter(|_| s.len() == 10).map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64)
}

impl ColumnBuilder {
    pub fn new(name: &str, kind: ColumnType, categorical: bool) -> Self {
        ColumnBuilder {
            name: name.to_string(),
            kind,
            categorical: categorical || kind == ColumnType::String,
            numbers: Vec::new(),
            codes: Vec::new(),
            levels: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Whether the cell counts as missing.
    pub fn missing(raw: &str) -> bool {
        is_missing(raw)
    }

    pub fn push(&mut self, raw: &str) {
        let s = raw.trim();
        if self.categorical {
            if is_missing(s) {
                self.codes.push(MISSING);
                return;
            }
            // Numbers that are equal read as one class ("1" and "1.0").
            let key = if self.kind.is_numeric() { parse_f64(s).map(super::prep::format_number).unwrap_or_else(|| s.to_string()) } else { s.to_string() };
            let code = match self.index.get(&key) {
                Some(c) => *c,
                None => {
                    let c = self.levels.len() as u32;
                    self.index.insert(key.clone(), c);
                    self.levels.push(key);
                    c
                }
            };
            self.codes.push(code);
            return;
        }
        let x = if is_missing(s) {
            f64::NAN
        } else {
            match self.kind {
                ColumnType::Integer | ColumnType::Float => parse_f64(s).unwrap_or(f64::NAN),
                ColumnType::Boolean => match s.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => 1.0,
                    "false" | "no" | "0" => 0.0,
                    _ => f64::NAN,
                },
                ColumnType::Timestamp => timestamp_seconds(s).unwrap_or(f64::NAN),
                ColumnType::String => unreachable!("strings are categorical"),
            }
        };
        self.numbers.push(x);
    }

    pub fn len(&self) -> usize {
        if self.categorical { self.codes.len() } else { self.numbers.len() }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the rows where `keep` is true.
    pub fn retain(&mut self, keep: &[bool]) {
        let mut i = 0;
        if self.categorical {
            self.codes.retain(|_| (keep[i], i += 1).0);
        } else {
            self.numbers.retain(|_| (keep[i], i += 1).0);
        }
    }

    /// Like [`finish`](Self::finish), with categories in sorted order (numerically when all are
    /// numbers): the order of a classifier's classes, so that the second of two is "positive".
    pub fn finish_sorted(mut self) -> Column {
        if self.categorical {
            let mut order: Vec<usize> = (0..self.levels.len()).collect();
            let numbers: Option<Vec<f64>> = self.levels.iter().map(|l| parse_f64(l)).collect();
            match &numbers {
                Some(n) => order.sort_by(|&a, &b| n[a].total_cmp(&n[b])),
                None => order.sort_by(|&a, &b| self.levels[a].cmp(&self.levels[b])),
            }
            let mut new_code = vec![0u32; order.len()];
            for (new, &old) in order.iter().enumerate() {
                new_code[old] = new as u32;
            }
            self.codes.iter_mut().filter(|c| **c != MISSING).for_each(|c| *c = new_code[*c as usize]);
            self.levels = order.iter().map(|&i| self.levels[i].clone()).collect();
        }
        self.finish()
    }

    pub fn finish(self) -> Column {
        let values = if self.categorical {
            Values::Categories { codes: self.codes, levels: self.levels }
        } else {
            Values::Numbers(self.numbers)
        };
        Column { name: self.name, values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_numbers_or_codes_by_type() {
        let mut n = ColumnBuilder::new("n", ColumnType::Float, false);
        for c in ["1.5", " 2 ", "NA", ""] {
            n.push(c);
        }
        let Values::Numbers(v) = n.finish().values else { panic!() };
        assert_eq!(&v[..2], &[1.5, 2.0]);
        assert!(v[2].is_nan() && v[3].is_nan());
        let mut b = ColumnBuilder::new("b", ColumnType::Boolean, false);
        for c in ["True", "false", "null"] {
            b.push(c);
        }
        let Values::Numbers(v) = b.finish().values else { panic!() };
        assert_eq!(&v[..2], &[1.0, 0.0]);
        let mut t = ColumnBuilder::new("t", ColumnType::Timestamp, false);
        for c in ["1970-01-02", "1970-01-01T00:01:00Z", "1970-01-01 00:00:30", "1970-01-01 01:00:00+01:00"] {
            t.push(c);
        }
        assert_eq!(t.finish().values, Values::Numbers(vec![86_400.0, 60.0, 30.0, 0.0]));
        let mut c = ColumnBuilder::new("label", ColumnType::Integer, true);
        for v in ["1", "0", "1.0", "N/A", "0"] {
            c.push(v);
        }
        let mut keep = c;
        keep.retain(&[true, true, true, false, true]);
        assert_eq!(keep.finish_sorted().values, Values::Categories { codes: vec![1, 0, 1, 0], levels: vec!["0".into(), "1".into()] });
        let mut words = ColumnBuilder::new("w", ColumnType::String, false);
        for v in ["b", "a", "10", "b"] {
            words.push(v);
        }
        assert_eq!(words.finish_sorted().values, Values::Categories { codes: vec![2, 1, 0, 2], levels: vec!["10".into(), "a".into(), "b".into()] });
    }
}
