//! Prediction inputs: instances (Vertex JSON objects or arrays) and Open Inference Protocol
//! tensors become the model's feature columns. Every value is checked against the feature's type;
//! a problem names the instance and the feature.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use trellis_ml::train::prep::format_number;
use trellis_ml::train::{columns::timestamp_seconds, Column, Values, MISSING};

use crate::{Error, Result};

/// Most instances in one request.
pub const MAX_INSTANCES: usize = 5_000;

/// What a feature accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number (integer or float); numeric text is read as a number.
    Number,
    /// `true`/`false` (or 1/0).
    Boolean,
    /// A date-time as text (RFC 3339 or `YYYY-MM-DD[ HH:MM[:SS]]`), or seconds since 1970.
    Timestamp,
    /// A category, as text (numbers are read as their text).
    Text,
}

impl FeatureKind {
    /// From a column type name as signatures store it (`integer`, `float`, `boolean`, …).
    pub fn from_type_name(t: &str) -> Self {
        match t {
            "integer" | "float" | "number" => FeatureKind::Number,
            "boolean" => FeatureKind::Boolean,
            "timestamp" => FeatureKind::Timestamp,
            _ => FeatureKind::Text,
        }
    }
    fn expected(self) -> &'static str {
        match self {
            FeatureKind::Number => "a number",
            FeatureKind::Boolean => "true or false",
            FeatureKind::Timestamp => "a date-time (e.g. 2024-05-01T12:00:00Z) or seconds since 1970",
            FeatureKind::Text => "a text value",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feature {
    pub name: String,
    pub kind: FeatureKind,
    /// Known categories (text features), for forms and documentation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// One input value, whatever it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Missing,
    Number(f64),
    Bool(bool),
    Text(Cow<'a, str>),
}

impl<'a> Cell<'a> {
    /// A JSON value as a cell; arrays and objects are not values.
    pub fn from_json(v: &'a Value) -> Option<Self> {
        Some(match v {
            Value::Null => Cell::Missing,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::Number(n.as_f64()?),
            Value::String(s) => Cell::Text(Cow::Borrowed(s.as_str())),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }
    fn describe(&self) -> String {
        match self {
            Cell::Missing => "null".into(),
            Cell::Number(x) => format_number(*x),
            Cell::Bool(b) => b.to_string(),
            Cell::Text(s) => format!("\"{}\"", s.chars().take(40).collect::<String>().escape_debug()),
        }
    }
}

/// Where a value sits, for error messages.
pub fn at(index: usize, feature: &str) -> String {
    RowNames::Instances.at(index, feature)
}

/// How error messages name the rows a [`ColumnBuilder`] is given.
#[derive(Clone, Copy, Debug)]
pub enum RowNames {
    /// A request's instances, from 0.
    Instances,
    /// Lines of a file, from 1, the first given being data row `first + 1`.
    FileRows { first: u64 },
}

impl RowNames {
    pub fn at(self, index: usize, feature: &str) -> String {
        match self {
            RowNames::Instances => format!("instance {index}, feature '{feature}'"),
            RowNames::FileRows { first } => format!("row {}, feature '{feature}'", first + index as u64 + 1),
        }
    }
}

/// The model's columns from rows of text cells (a dataset's or an uploaded file's), feature `i`
/// read from cell `at[i]` of each row (empty when a row is short). An error names the row (as
/// `names` says), the feature and the problem.
pub fn text_columns(features: &[Feature], at: &[usize], rows: &[Vec<String>], names: RowNames) -> Result<Vec<Column>> {
    let mut builders: Vec<ColumnBuilder<'_>> = features.iter().map(|f| ColumnBuilder::new(f, rows.len()).naming(names)).collect();
    for (r, cells) in rows.iter().enumerate() {
        for (b, &c) in builders.iter_mut().zip(at) {
            b.push(r, Cell::Text(Cow::Borrowed(cells.get(c).map(String::as_str).unwrap_or(""))))?;
        }
    }
    Ok(builders.into_iter().map(ColumnBuilder::finish).collect())
}

/// Collects one feature's values over the instances.
pub struct ColumnBuilder<'f> {
    feature: &'f Feature,
    numbers: Vec<f64>,
    codes: Vec<u32>,
    levels: Vec<String>,
    index: HashMap<String, u32>,
    names: RowNames,
}

impl<'f> ColumnBuilder<'f> {
    pub fn new(feature: &'f Feature, rows: usize) -> Self {
        let text = feature.kind == FeatureKind::Text;
        ColumnBuilder {
            feature,
            numbers: if text { Vec::new() } else { Vec::with_capacity(rows) },
            codes: if text { Vec::with_capacity(rows) } else { Vec::new() },
            levels: Vec::new(),
            index: HashMap::new(),
            names: RowNames::Instances,
        }
    }

    /// Names rows in errors as `names` says (instances by default).
    pub fn naming(self, names: RowNames) -> Self {
        ColumnBuilder { names, ..self }
    }

    /// Adds the value of row `row`; an error names the row, the feature and the problem.
    pub fn push(&mut self, row: usize, cell: Cell<'_>) -> Result<()> {
        let (f, names) = (self.feature, self.names);
        let at = |row: usize, feature: &str| names.at(row, feature);
        let wrong = |cell: &Cell<'_>| Error::bad_request(format!("{}: expected {}, got {}", at(row, &f.name), f.kind.expected(), cell.describe()));
        match f.kind {
            FeatureKind::Text => {
                let text: Option<Cow<'_, str>> = match &cell {
                    Cell::Missing => None,
                    Cell::Text(s) if s.trim().is_empty() => None,
                    Cell::Text(s) => Some(Cow::Borrowed(s.as_ref())),
                    Cell::Number(x) if x.is_nan() => None,
                    Cell::Number(x) => Some(Cow::Owned(format_number(*x))),
                    Cell::Bool(b) => Some(Cow::Owned(b.to_string())),
                };
                let code = match text {
                    None => MISSING,
                    Some(s) => match self.index.get(s.as_ref()) {
                        Some(c) => *c,
                        None => {
                            let c = self.levels.len() as u32;
                            self.levels.push(s.to_string());
                            self.index.insert(s.into_owned(), c);
                            c
                        }
                    },
                };
                self.codes.push(code);
            }
            kind => {
                let x = match (&cell, kind) {
                    (Cell::Missing, _) => f64::NAN,
                    (Cell::Text(s), _) if s.trim().is_empty() => f64::NAN,
                    (Cell::Number(x), FeatureKind::Number | FeatureKind::Timestamp) => *x,
                    (Cell::Bool(b), FeatureKind::Number | FeatureKind::Boolean) => f64::from(u8::from(*b)),
                    (Cell::Number(x), FeatureKind::Boolean) if *x == 0.0 || *x == 1.0 => *x,
                    (Cell::Number(x), FeatureKind::Boolean) if x.is_nan() => *x,
                    (Cell::Text(s), FeatureKind::Number) => s.trim().parse::<f64>().map_err(|_| wrong(&cell))?,
                    (Cell::Text(s), FeatureKind::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" => 1.0,
                        "false" | "0" => 0.0,
                        _ => return Err(wrong(&cell)),
                    },
                    (Cell::Text(s), FeatureKind::Timestamp) => timestamp_seconds(s.trim()).ok_or_else(|| wrong(&cell))?,
                    _ => return Err(wrong(&cell)),
                };
                if x.is_infinite() {
                    return Err(Error::bad_request(format!("{}: infinite values are not allowed", at(row, &f.name))));
                }
                self.numbers.push(x);
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Column {
        let values = if self.feature.kind == FeatureKind::Text {
            Values::Categories { codes: self.codes, levels: self.levels }
        } else {
            Values::Numbers(self.numbers)
        };
        Column { name: self.feature.name.clone(), values }
    }
}

fn feature_list(features: &[Feature]) -> String {
    let names: Vec<&str> = features.iter().map(|f| f.name.as_str()).take(20).collect();
    let more = if features.len() > 20 { format!(", … ({} in all)", features.len()) } else { String::new() };
    format!("{}{more}", names.join(", "))
}

/// Vertex-style instances (each an object `{feature: value}` or an array in feature order)
/// as columns, one per feature.
pub fn columns_from_instances(features: &[Feature], instances: &[Value]) -> Result<Vec<Column>> {
    if instances.is_empty() {
        return Err(Error::bad_request("'instances' is empty: give at least one instance"));
    }
    if instances.len() > MAX_INSTANCES {
        return Err(Error::bad_request(format!("{} instances in one request; at most {MAX_INSTANCES} are allowed", instances.len())));
    }
    let position: HashMap<&str, usize> = features.iter().enumerate().map(|(i, f)| (f.name.as_str(), i)).collect();
    let mut builders: Vec<ColumnBuilder<'_>> = features.iter().map(|f| ColumnBuilder::new(f, instances.len())).collect();
    for (row, instance) in instances.iter().enumerate() {
        match instance {
            Value::Object(map) => {
                if let Some(unknown) = map.keys().find(|k| !position.contains_key(k.as_str())) {
                    return Err(Error::bad_request(format!(
                        "instance {row}: unknown feature '{unknown}'; the model's features are: {}",
                        feature_list(features)
                    )));
                }
                for (b, f) in builders.iter_mut().zip(features) {
                    let v = map.get(&f.name).ok_or_else(|| Error::bad_request(format!("{}: missing (use null for a missing value)", at(row, &f.name))))?;
                    let cell = Cell::from_json(v).ok_or_else(|| Error::bad_request(format!("{}: expected a single value, got a list or an object", at(row, &f.name))))?;
                    b.push(row, cell)?;
                }
            }
            Value::Array(values) => {
                if values.len() != features.len() {
                    return Err(Error::bad_request(format!(
                        "instance {row}: {} values, but the model has {} features ({}), given in that order",
                        values.len(),
                        features.len(),
                        feature_list(features)
                    )));
                }
                for ((b, f), v) in builders.iter_mut().zip(features).zip(values) {
                    let cell = Cell::from_json(v).ok_or_else(|| Error::bad_request(format!("{}: expected a single value, got a list or an object", at(row, &f.name))))?;
                    b.push(row, cell)?;
                }
            }
            _ => {
                return Err(Error::bad_request(format!(
                    "instance {row}: expected an object {{feature: value}} or an array of values in feature order"
                )))
            }
        }
    }
    Ok(builders.into_iter().map(ColumnBuilder::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn features() -> Vec<Feature> {
        vec![
            Feature { name: "age".into(), kind: FeatureKind::Number, categories: vec![] },
            Feature { name: "plan".into(), kind: FeatureKind::Text, categories: vec!["basic".into()] },
            Feature { name: "active".into(), kind: FeatureKind::Boolean, categories: vec![] },
        ]
    }

    #[test]
    fn objects_and_arrays_give_the_same_columns() {
        let f = features();
        let a = columns_from_instances(&f, &[json!({"age": 31, "plan": "basic", "active": true}), json!({"age": null, "plan": 3, "active": "false"})]).unwrap();
        let b = columns_from_instances(&f, &[json!([31, "basic", true]), json!([null, "3", 0])]).unwrap();
        assert_eq!(a[1], b[1]);
        assert_eq!(a[2], b[2]);
        match (&a[0].values, &b[0].values) {
            (Values::Numbers(x), Values::Numbers(y)) => {
                assert_eq!(x[0], 31.0);
                assert!(x[1].is_nan() && y[1].is_nan());
            }
            _ => panic!("numbers expected"),
        }
        assert_eq!(a[1].values, Values::Categories { codes: vec![0, 1], levels: vec!["basic".into(), "3".into()] });
        assert_eq!(a[2].values, Values::Numbers(vec![1.0, 0.0]));
    }

    #[test]
    fn problems_name_the_instance_and_the_feature() {
        let f = features();
        let err = |instances: Vec<Value>| columns_from_instances(&f, &instances).unwrap_err().to_string();
        let ok = json!({"age": 1, "plan": "basic", "active": true});
        assert_eq!(err(vec![ok.clone(), json!({"age": "old", "plan": "basic", "active": true})]), "instance 1, feature 'age': expected a number, got \"old\"");
        assert!(err(vec![json!({"age": 1, "plan": "basic"})]).starts_with("instance 0, feature 'active': missing"));
        assert!(err(vec![json!({"age": 1, "plan": "basic", "active": true, "zip": 1})]).starts_with("instance 0: unknown feature 'zip'"));
        assert!(err(vec![ok.clone(), ok.clone(), json!([1, "basic"])]).starts_with("instance 2: 2 values, but the model has 3 features"));
        assert!(err(vec![json!({"age": [1], "plan": "basic", "active": true})]).contains("expected a single value"));
        assert!(err(vec![json!({"age": 1, "plan": "basic", "active": 2})]).starts_with("instance 0, feature 'active': expected true or false"));
        assert!(err(vec![json!(5)]).starts_with("instance 0: expected an object"));
        assert!(err(vec![]).contains("empty"));
        assert!(err(vec![ok; MAX_INSTANCES + 1]).contains("at most"));
    }
}
