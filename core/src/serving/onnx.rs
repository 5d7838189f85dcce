//! ONNX models on ONNX Runtime (the `ort` crate, the library loaded from `ORT_DYLIB_PATH`).
//!
//! Features come from the graph's inputs: several inputs of shape `[rows]` or `[rows, 1]` are one
//! feature each, named after the input; one input `[rows, n]` is `n` numeric features in order,
//! named by the version's (or its run's) `trellis.feature_names` tag (comma-separated) or
//! `x0 … x{n-1}`. Outputs: a float `[rows, classes]` tensor is a classifier's probabilities
//! (classes named from the graph's classifier node, else by index); otherwise a float `[rows]`
//! or `[rows, 1]` tensor is a regressor's value.

use std::borrow::Cow;
use std::sync::Mutex;

use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use trellis_ml::onnx::{OnnxSignature, ValueSpec};
use trellis_ml::train::{Column, Predictions, Values, MISSING};

use super::input::{Feature, FeatureKind};
use super::model::Output;
use crate::{Error, Result};

#[derive(Debug)]
enum Layout {
    /// One `[rows, features]` input.
    Matrix { name: String, dtype: String, width: usize },
    /// One input per feature: (name, element type).
    PerFeature(Vec<(String, String)>),
}

pub struct OnnxPredictor {
    session: Mutex<Session>,
    layout: Layout,
    /// The probabilities or value output.
    output: String,
    width: usize,
}

impl std::fmt::Debug for OnnxPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxPredictor").field("layout", &self.layout).field("output", &self.output).finish_non_exhaustive()
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg.into())
}

fn runtime_error(e: ort::Error) -> Error {
    Error::Internal(anyhow::anyhow!("ONNX Runtime: {e}"))
}

/// Checks that ONNX Runtime's library is where `ORT_DYLIB_PATH` says (loading a missing one
/// would abort the process).
fn check_runtime() -> Result<()> {
    let path = std::env::var("ORT_DYLIB_PATH").unwrap_or_default();
    if path.is_empty() || !std::path::Path::new(&path).is_file() {
        return Err(bad(format!(
            "this model is ONNX, and ONNX Runtime is not installed here: set ORT_DYLIB_PATH to libonnxruntime.so (scripts/bootstrap.sh installs it){}",
            if path.is_empty() { String::new() } else { format!("; '{path}' does not exist") }
        )));
    }
    Ok(())
}

fn kind_of(dtype: &str) -> FeatureKind {
    match dtype {
        "string" => FeatureKind::Text,
        "bool" => FeatureKind::Boolean,
        _ => FeatureKind::Number,
    }
}

fn rows_dim(v: &ValueSpec) -> Option<usize> {
    match v.shape.as_deref() {
        Some([_]) | Some([_, 1]) => Some(1),
        Some([_, n]) if *n > 0 => Some(*n as usize),
        _ => None,
    }
}

/// Loads an ONNX model: (features, output, predictor).
pub fn load(bytes: &[u8], feature_names: Option<Vec<String>>) -> Result<(Vec<Feature>, Output, OnnxPredictor)> {
    let sig = OnnxSignature::read(bytes).map_err(|e| bad(e.to_string()))?;
    let tensor_inputs: Vec<&ValueSpec> = sig.inputs.iter().filter(|v| v.kind == "tensor").collect();
    if tensor_inputs.len() != sig.inputs.len() {
        return Err(bad("the ONNX model has inputs that are not tensors; Trellis serves models whose inputs are tensors"));
    }
    let (features, layout) = if let [only] = tensor_inputs[..] {
        let width = rows_dim(only).ok_or_else(|| bad(format!("ONNX input '{}' must be [rows, features] with a fixed number of features", only.name)))?;
        if width == 1 {
            (vec![Feature { name: only.name.clone(), kind: kind_of(&only.dtype), categories: vec![] }], Layout::PerFeature(vec![(only.name.clone(), only.dtype.clone())]))
        } else {
            if !matches!(only.dtype.as_str(), "float32" | "float64") {
                return Err(bad(format!("ONNX input '{}' is {}; a [rows, features] input must be float32 or float64", only.name, only.dtype)));
            }
            let names = match feature_names {
                Some(n) if n.len() == width => n,
                Some(n) => return Err(bad(format!("trellis.feature_names names {} features, but the model takes {width}", n.len()))),
                None => (0..width).map(|i| format!("x{i}")).collect(),
            };
            let features = names.into_iter().map(|name| Feature { name, kind: FeatureKind::Number, categories: vec![] }).collect();
            (features, Layout::Matrix { name: only.name.clone(), dtype: only.dtype.clone(), width })
        }
    } else {
        let mut per = Vec::new();
        let mut features = Vec::new();
        for v in &tensor_inputs {
            if rows_dim(v) != Some(1) {
                return Err(bad(format!("ONNX input '{}' must be [rows] or [rows, 1] when there are several inputs", v.name)));
            }
            features.push(Feature { name: v.name.clone(), kind: kind_of(&v.dtype), categories: vec![] });
            per.push((v.name.clone(), v.dtype.clone()));
        }
        (features, Layout::PerFeature(per))
    };
    let float = |v: &&ValueSpec| v.kind == "tensor" && matches!(v.dtype.as_str(), "float32" | "float64");
    let probabilities = sig.outputs.iter().filter(float).find(|v| matches!(v.shape.as_deref(), Some([_, k]) if *k > 1));
    let (output_name, output, width) = match probabilities {
        Some(p) => {
            let k = p.shape.as_ref().map(|s| s[1] as usize).unwrap_or(0);
            let classes = if sig.class_labels.len() == k { sig.class_labels.clone() } else { (0..k).map(|i| i.to_string()).collect() };
            (p.name.clone(), Output::Classes { classes }, k)
        }
        None => {
            let v = sig
                .outputs
                .iter()
                .filter(float)
                .find(|v| matches!(v.shape.as_deref(), Some([_]) | Some([_, 1])))
                .ok_or_else(|| bad("the ONNX model has no output Trellis can read: a float tensor of probabilities [rows, classes] or of values [rows] (export classifiers without ZipMap)"))?;
            (v.name.clone(), Output::Value { name: v.name.clone() }, 1)
        }
    };
    check_runtime()?;
    let session = Session::builder()
        .and_then(|b| b.commit_from_memory(bytes))
        .map_err(|e| bad(format!("ONNX Runtime cannot load the model: {e}")))?;
    Ok((features, output, OnnxPredictor { session: Mutex::new(session), layout, output: output_name, width }))
}

fn numbers(c: &Column) -> Vec<f64> {
    match &c.values {
        Values::Numbers(v) => v.clone(),
        Values::Categories { codes, levels } => codes.iter().map(|&k| if k == MISSING { f64::NAN } else { levels[k as usize].parse().unwrap_or(f64::NAN) }).collect(),
    }
}

fn texts(c: &Column) -> Vec<String> {
    match &c.values {
        Values::Categories { codes, levels } => codes.iter().map(|&k| if k == MISSING { String::new() } else { levels[k as usize].clone() }).collect(),
        Values::Numbers(v) => v.iter().map(|x| if x.is_nan() { String::new() } else { trellis_ml::train::prep::format_number(*x) }).collect(),
    }
}

fn tensor(name: &str, dtype: &str, shape: Vec<i64>, c: &[f64], text: Option<Vec<String>>) -> Result<SessionInputValue<'static>> {
    let t: SessionInputValue<'static> = match dtype {
        "float32" => Tensor::from_array((shape, c.iter().map(|x| *x as f32).collect::<Vec<f32>>())).map_err(runtime_error)?.into(),
        "float64" => Tensor::from_array((shape, c.to_vec())).map_err(runtime_error)?.into(),
        "int64" | "int32" => {
            if let Some(i) = c.iter().position(|x| !x.is_finite() || x.fract() != 0.0) {
                return Err(bad(format!("instance {i}, feature '{name}': the model needs a whole number")));
            }
            if dtype == "int64" {
                Tensor::from_array((shape, c.iter().map(|x| *x as i64).collect::<Vec<i64>>())).map_err(runtime_error)?.into()
            } else {
                Tensor::from_array((shape, c.iter().map(|x| *x as i32).collect::<Vec<i32>>())).map_err(runtime_error)?.into()
            }
        }
        "bool" => Tensor::from_array((shape, c.iter().map(|x| *x != 0.0).collect::<Vec<bool>>())).map_err(runtime_error)?.into(),
        "string" => Tensor::from_string_array((shape, text.unwrap_or_default().as_slice())).map_err(runtime_error)?.into(),
        other => return Err(bad(format!("ONNX input '{name}' has element type {other}, which Trellis cannot feed"))),
    };
    Ok(t)
}

impl OnnxPredictor {
    pub fn predict(&self, columns: &[Column]) -> Result<Predictions> {
        let rows = columns.first().map(|c| c.values.len()).unwrap_or(0);
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> = Vec::new();
        match &self.layout {
            Layout::Matrix { name, dtype, width } => {
                let cols: Vec<Vec<f64>> = columns.iter().map(numbers).collect();
                let mut data = Vec::with_capacity(rows * width);
                for r in 0..rows {
                    for c in &cols {
                        data.push(c[r]);
                    }
                }
                inputs.push((Cow::Owned(name.clone()), tensor(name, dtype, vec![rows as i64, *width as i64], &data, None)?));
            }
            Layout::PerFeature(list) => {
                for ((name, dtype), c) in list.iter().zip(columns) {
                    let text = (dtype == "string").then(|| texts(c));
                    inputs.push((Cow::Owned(name.clone()), tensor(name, dtype, vec![rows as i64, 1], &numbers(c), text)?));
                }
            }
        }
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(inputs).map_err(|e| bad(format!("the model could not predict: {e}")))?;
        let out = &outputs[self.output.as_str()];
        let values: Vec<f64> = match out.try_extract_tensor::<f32>() {
            Ok((_, v)) => v.iter().map(|x| *x as f64).collect(),
            Err(_) => out.try_extract_tensor::<f64>().map_err(runtime_error)?.1.to_vec(),
        };
        if values.len() != rows * self.width {
            return Err(Error::Internal(anyhow::anyhow!("the model gave {} values for {rows} rows", values.len())));
        }
        Ok(if self.width > 1 { Predictions::Probabilities { classes: self.width, values } } else { Predictions::Values(values) })
    }
}
