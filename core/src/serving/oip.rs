//! The Open Inference Protocol (KServe v2, as Triton speaks it over HTTP/JSON): tensors in,
//! tensors out. Inputs are one 2-D tensor `[rows, features]` in feature order, or one tensor per
//! feature named after it (`[rows]` or `[rows, 1]`). Classifiers answer with `label` (BYTES
//! `[rows]`) and `probabilities` (FP64 `[rows, classes]`); regressors with `value` (FP64 `[rows]`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trellis_ml::train::Predictions;

use super::input::{Cell, ColumnBuilder, Feature, FeatureKind, MAX_INSTANCES};
use super::model::Output;
use super::{authorize_predict, route, LoadedModel, Route};
use crate::{Actor, Core, Error, Result};

pub const DATATYPES: [&str; 13] = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"];

#[derive(Debug, Clone, Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    pub inputs: Vec<InferInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub datatype: &'static str,
    pub data: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub parameters: Value,
    pub outputs: Vec<OutputTensor>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: &'static str,
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: &'static str,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

/// Splits `<project>.<endpoint>`.
fn split_name(name: &str) -> Result<(&str, &str)> {
    name.split_once('.').filter(|(s, e)| !s.is_empty() && !e.is_empty()).ok_or_else(|| Error::not_found(format!("no model '{name}': model names are <project>.<endpoint>")))
}

/// The endpoint behind an OIP model name, for a caller who may predict on it.
async fn predictable(core: &Core, actor: &Actor, name: &str) -> Result<std::sync::Arc<Route>> {
    let (slug, endpoint) = split_name(name)?;
    authorize_predict(core, actor, slug, endpoint).await?;
    route(core, slug, endpoint).await
}

fn datatype_of(kind: FeatureKind) -> &'static str {
    match kind {
        FeatureKind::Number | FeatureKind::Timestamp => "FP64",
        FeatureKind::Boolean => "BOOL",
        FeatureKind::Text => "BYTES",
    }
}

fn outputs_of(model: &LoadedModel) -> Vec<TensorMetadata> {
    match &model.output {
        Output::Classes { .. } => vec![
            TensorMetadata { name: "label".into(), datatype: "BYTES", shape: vec![-1] },
            TensorMetadata { name: "probabilities".into(), datatype: "FP64", shape: vec![-1, model_classes(model) as i64] },
        ],
        Output::Value { .. } => vec![TensorMetadata { name: "value".into(), datatype: "FP64", shape: vec![-1] }],
    }
}

fn model_classes(model: &LoadedModel) -> usize {
    match &model.output {
        Output::Classes { classes } => classes.len(),
        Output::Value { .. } => 1,
    }
}

/// `GET /v2/models/{name}`: the inputs (one tensor per feature) and outputs of the model that
/// takes the most traffic.
pub async fn metadata(core: &Core, actor: &Actor, name: &str) -> Result<ModelMetadata> {
    let route = predictable(core, actor, name).await?;
    let main = route
        .targets
        .iter()
        .max_by_key(|t| (t.traffic_percent, std::cmp::Reverse(t.deployed_model_id)))
        .ok_or_else(|| Error::conflict(format!("endpoint '{name}' has no deployed model")))?;
    let mut versions: Vec<String> = route.targets.iter().map(|t| t.version.to_string()).collect();
    versions.dedup();
    Ok(ModelMetadata {
        name: name.to_string(),
        versions,
        platform: "trellis",
        inputs: main
            .model
            .features
            .iter()
            .map(|f| TensorMetadata { name: f.name.clone(), datatype: datatype_of(f.kind), shape: vec![-1] })
            .collect(),
        outputs: outputs_of(&main.model),
    })
}

/// `GET /v2/models/{name}/ready`: whether some deployed model takes traffic.
pub async fn ready(core: &Core, actor: &Actor, name: &str) -> Result<bool> {
    let route = predictable(core, actor, name).await?;
    Ok(route.targets.iter().any(|t| t.traffic_percent > 0))
}

/// A tensor's data flattened in row-major order (nested arrays are allowed).
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

/// A tensor element as a cell, checked against the tensor's datatype.
fn cell<'a>(input: &InferInput, v: &'a Value) -> Result<Cell<'a>> {
    let bad = || Error::bad_request(format!("input '{}': {} data must be {}", input.name, input.datatype, match input.datatype.as_str() {
        "BOOL" => "true or false",
        "BYTES" => "strings",
        _ => "numbers",
    }));
    match (input.datatype.as_str(), v) {
        ("BOOL", Value::Bool(b)) => Ok(Cell::Bool(*b)),
        ("BYTES", Value::String(s)) => Ok(Cell::Text(std::borrow::Cow::Borrowed(s))),
        ("BOOL" | "BYTES", _) => Err(bad()),
        (_, Value::Number(n)) => Ok(Cell::Number(n.as_f64().ok_or_else(bad)?)),
        // JSON has no NaN; Triton clients send it as the string "NaN".
        (t, Value::String(s)) if t.starts_with("FP") && s.eq_ignore_ascii_case("nan") => Ok(Cell::Number(f64::NAN)),
        _ => Err(bad()),
    }
}

fn check_input(input: &InferInput) -> Result<Vec<usize>> {
    if !DATATYPES.contains(&input.datatype.as_str()) {
        return Err(Error::bad_request(format!("input '{}': unknown datatype '{}' (one of {})", input.name, input.datatype, DATATYPES.join(", "))));
    }
    if input.shape.iter().any(|d| *d < 0) {
        return Err(Error::bad_request(format!("input '{}': shape {:?} has a negative dimension", input.name, input.shape)));
    }
    Ok(input.shape.iter().map(|d| *d as usize).collect())
}

/// The request's tensors as one column per feature.
pub fn columns(features: &[Feature], inputs: &[InferInput]) -> Result<Vec<trellis_ml::train::Column>> {
    if inputs.is_empty() {
        return Err(Error::bad_request("'inputs' is empty"));
    }
    let by_feature = features.iter().any(|f| inputs.iter().any(|i| i.name == f.name));
    if !by_feature {
        // One 2-D tensor [rows, features], in feature order.
        let [input] = inputs else {
            return Err(Error::bad_request(format!(
                "{} inputs, none named after a feature: give one 2-D tensor [rows, {}] in feature order, or one tensor per feature",
                inputs.len(),
                features.len()
            )));
        };
        let shape = check_input(input)?;
        let [rows, width] = shape[..] else {
            return Err(Error::bad_request(format!("input '{}': shape {:?} must be [rows, {}]", input.name, input.shape, features.len())));
        };
        if width != features.len() {
            return Err(Error::bad_request(format!("input '{}': {} columns, but the model has {} features", input.name, width, features.len())));
        }
        check_rows(rows)?;
        let mut data = Vec::with_capacity(rows * width);
        flatten(&input.data, &mut data);
        if data.len() != rows * width {
            return Err(Error::bad_request(format!("input '{}': shape {:?} needs {} values, data has {}", input.name, input.shape, rows * width, data.len())));
        }
        let mut builders: Vec<ColumnBuilder<'_>> = features.iter().map(|f| ColumnBuilder::new(f, rows)).collect();
        for row in 0..rows {
            for (j, b) in builders.iter_mut().enumerate() {
                b.push(row, cell(input, data[row * width + j])?)?;
            }
        }
        return Ok(builders.into_iter().map(ColumnBuilder::finish).collect());
    }
    // One tensor per feature, [rows] or [rows, 1].
    if let Some(unknown) = inputs.iter().find(|i| !features.iter().any(|f| f.name == i.name)) {
        return Err(Error::bad_request(format!("input '{}' is not a feature of the model", unknown.name)));
    }
    let mut rows: Option<usize> = None;
    let mut out = Vec::with_capacity(features.len());
    for f in features {
        let mut named = inputs.iter().filter(|i| i.name == f.name);
        let input = named.next().ok_or_else(|| Error::bad_request(format!("feature '{}' has no input tensor", f.name)))?;
        if named.next().is_some() {
            return Err(Error::bad_request(format!("input '{}' is given twice", f.name)));
        }
        let shape = check_input(input)?;
        let n = match shape[..] {
            [n] | [n, 1] => n,
            _ => return Err(Error::bad_request(format!("input '{}': shape {:?} must be [rows] or [rows, 1]", input.name, input.shape))),
        };
        if *rows.get_or_insert(n) != n {
            return Err(Error::bad_request(format!("input '{}' has {n} rows; the other inputs have {}", input.name, rows.unwrap_or(0))));
        }
        check_rows(n)?;
        let mut data = Vec::with_capacity(n);
        flatten(&input.data, &mut data);
        if data.len() != n {
            return Err(Error::bad_request(format!("input '{}': shape {:?} needs {n} values, data has {}", input.name, input.shape, data.len())));
        }
        let mut b = ColumnBuilder::new(f, n);
        for (row, v) in data.into_iter().enumerate() {
            b.push(row, cell(input, v)?)?;
        }
        out.push(b.finish());
    }
    Ok(out)
}

fn check_rows(rows: usize) -> Result<()> {
    if rows == 0 {
        return Err(Error::bad_request("the inputs have no rows"));
    }
    if rows > MAX_INSTANCES {
        return Err(Error::bad_request(format!("{rows} rows in one request; at most {MAX_INSTANCES} are allowed")));
    }
    Ok(())
}

fn output_tensors(model: &LoadedModel, p: &Predictions) -> Vec<OutputTensor> {
    match (p, &model.output) {
        (Predictions::Probabilities { classes: k, values }, Output::Classes { classes }) => {
            let rows = values.len() / (*k).max(1);
            let labels: Vec<Value> = values
                .chunks(*k)
                .map(|row| {
                    json!(classes.get(super::model::most_likely(row)))
                })
                .collect();
            vec![
                OutputTensor { name: "label".into(), shape: vec![rows], datatype: "BYTES", data: labels },
                OutputTensor { name: "probabilities".into(), shape: vec![rows, *k], datatype: "FP64", data: values.iter().map(|v| json!(v)).collect() },
            ]
        }
        (Predictions::Values(v), _) => vec![OutputTensor { name: "value".into(), shape: vec![v.len()], datatype: "FP64", data: v.iter().map(|x| json!(x)).collect() }],
        (Predictions::Probabilities { classes: k, values }, Output::Value { .. }) => {
            vec![OutputTensor { name: "scores".into(), shape: vec![values.len() / (*k).max(1), *k], datatype: "FP64", data: values.iter().map(|v| json!(v)).collect() }]
        }
    }
}

/// Which outputs a request wants as binary data (the binary tensor extension): each output's
/// `parameters.binary_data`, else the request's `parameters.binary_data_output`.
#[derive(Debug, Clone, Default)]
pub struct BinaryOutputs {
    all: bool,
    each: Vec<(String, bool)>,
}

impl BinaryOutputs {
    pub fn of(req: &InferRequest) -> BinaryOutputs {
        let flag = |p: &Option<Value>, key: &str| p.as_ref().and_then(|p| p.get(key)).and_then(Value::as_bool);
        BinaryOutputs {
            all: flag(&req.parameters, "binary_data_output").unwrap_or(false),
            each: req.outputs.iter().flatten().filter_map(|o| flag(&o.parameters, "binary_data").map(|b| (o.name.clone(), b))).collect(),
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.each.iter().find(|(n, _)| n == name).map(|(_, b)| *b).unwrap_or(self.all)
    }
}

/// An answer's body: JSON, or — when outputs are wanted as binary data — a JSON header whose
/// length is returned too, followed by those outputs' raw data in output order (FP64 as
/// little-endian numbers, BYTES as 4-byte little-endian lengths and the bytes).
pub fn encode_response(resp: &InferResponse, binary: &BinaryOutputs) -> Result<(Vec<u8>, Option<usize>)> {
    let mut raw: Vec<u8> = Vec::new();
    let mut any = false;
    let outputs: Vec<Value> = resp
        .outputs
        .iter()
        .map(|o| {
            if !binary.wants(&o.name) {
                return json!(o);
            }
            any = true;
            let start = raw.len();
            for v in &o.data {
                match o.datatype {
                    "BYTES" => {
                        let text = v.as_str().unwrap_or_default().as_bytes();
                        raw.extend_from_slice(&(text.len() as u32).to_le_bytes());
                        raw.extend_from_slice(text);
                    }
                    _ => raw.extend_from_slice(&v.as_f64().unwrap_or(f64::NAN).to_le_bytes()),
                }
            }
            json!({ "name": o.name, "shape": o.shape, "datatype": o.datatype, "parameters": { "binary_data_size": raw.len() - start } })
        })
        .collect();
    let mut head = json!({ "model_name": resp.model_name, "model_version": resp.model_version, "parameters": resp.parameters, "outputs": outputs });
    if let Some(id) = &resp.id {
        head["id"] = json!(id);
    }
    let mut body = serde_json::to_vec(&head).map_err(anyhow::Error::from)?;
    if !any {
        return Ok((body, None));
    }
    let header_length = body.len();
    body.extend_from_slice(&raw);
    Ok((body, Some(header_length)))
}

/// Reads a request body: all JSON, or (the binary tensor extension) a JSON header of
/// `header_length` bytes followed by the raw data of the inputs whose `parameters` give a
/// `binary_data_size`, in input order.
pub fn parse_request(body: &[u8], header_length: Option<usize>) -> Result<InferRequest> {
    let (head, mut rest) = match header_length {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => return Err(Error::bad_request(format!("Inference-Header-Content-Length is {n}, but the body has {} bytes", body.len()))),
        None => (body, &[][..]),
    };
    let mut req: InferRequest =
        serde_json::from_slice(head).map_err(|e| Error::bad_request(format!("the inference request is not valid JSON of the protocol: {e}")))?;
    for input in &mut req.inputs {
        let size = input.parameters.as_ref().and_then(|p| p.get("binary_data_size")).and_then(Value::as_u64);
        let Some(size) = size else { continue };
        let size = size as usize;
        if size > rest.len() {
            return Err(Error::bad_request(format!("input '{}': binary_data_size {size} is more than the {} bytes left", input.name, rest.len())));
        }
        let (raw, tail) = rest.split_at(size);
        rest = tail;
        input.data = Value::Array(decode_binary(&input.name, &input.datatype, raw)?);
    }
    if !rest.is_empty() {
        return Err(Error::bad_request(format!("{} bytes of binary data are not claimed by any input", rest.len())));
    }
    Ok(req)
}

fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let frac = (bits & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Raw little-endian tensor data as JSON values.
fn decode_binary(name: &str, datatype: &str, raw: &[u8]) -> Result<Vec<Value>> {
    let width = match datatype {
        "BOOL" | "INT8" | "UINT8" => 1,
        "INT16" | "UINT16" | "FP16" => 2,
        "INT32" | "UINT32" | "FP32" => 4,
        "INT64" | "UINT64" | "FP64" => 8,
        "BYTES" => 0,
        other => return Err(Error::bad_request(format!("input '{name}': unknown datatype '{other}'"))),
    };
    if width == 0 {
        let mut out = Vec::new();
        let mut at = 0;
        while at < raw.len() {
            let len = raw.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let text = len.and_then(|n| raw.get(at + 4..at + 4 + n)).ok_or_else(|| Error::bad_request(format!("input '{name}': BYTES data is cut short")))?;
            let text = std::str::from_utf8(text).map_err(|_| Error::bad_request(format!("input '{name}': BYTES data is not UTF-8 text")))?;
            out.push(json!(text));
            at += 4 + text.len();
        }
        return Ok(out);
    }
    if raw.len() % width != 0 {
        return Err(Error::bad_request(format!("input '{name}': {} bytes is not a whole number of {datatype} values", raw.len())));
    }
    let nan = |x: f64| if x.is_nan() { json!("NaN") } else { json!(x) };
    Ok(raw
        .chunks(width)
        .map(|b| match datatype {
            "BOOL" => json!(b[0] != 0),
            "INT8" => json!(b[0] as i8),
            "UINT8" => json!(b[0]),
            "INT16" => json!(i16::from_le_bytes([b[0], b[1]])),
            "UINT16" => json!(u16::from_le_bytes([b[0], b[1]])),
            "FP16" => nan(half_to_f64(u16::from_le_bytes([b[0], b[1]]))),
            "INT32" => json!(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            "UINT32" => json!(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            "FP32" => nan(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
            "INT64" => json!(i64::from_le_bytes(b.try_into().expect("8 bytes"))),
            "UINT64" => json!(u64::from_le_bytes(b.try_into().expect("8 bytes"))),
            _ => nan(f64::from_le_bytes(b.try_into().expect("8 bytes"))),
        })
        .collect())
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(core: &Core, actor: &Actor, name: &str, req: InferRequest) -> Result<InferResponse> {
    let started = std::time::Instant::now();
    let route = predictable(core, actor, name).await?;
    let target = route.pick()?;
    let answer = infer_with(target, name, &req);
    let request = || json!({ "inputs": req.inputs.iter().map(|i| json!({ "name": i.name, "shape": i.shape, "datatype": i.datatype, "data": i.data })).collect::<Vec<_>>() });
    match &answer {
        Ok(a) => route.record(core, target, started, true, || (request(), json!({ "outputs": a.outputs }))),
        Err(e) => route.record(core, target, started, false, || (request(), json!({ "error": e.public_message() }))),
    }
    answer
}

fn infer_with(target: &super::RouteTarget, name: &str, req: &InferRequest) -> Result<InferResponse> {
    let columns = columns(&target.model.features, &req.inputs)?;
    let predictions = target.model.predict(&columns)?;
    let mut outputs = output_tensors(&target.model, &predictions);
    if let Some(wanted) = &req.outputs {
        if let Some(unknown) = wanted.iter().find(|w| !outputs.iter().any(|o| o.name == w.name)) {
            let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
            return Err(Error::bad_request(format!("unknown output '{}'; the model's outputs are {}", unknown.name, names.join(", "))));
        }
        outputs.retain(|o| wanted.iter().any(|w| w.name == o.name));
    }
    Ok(InferResponse {
        model_name: name.to_string(),
        model_version: target.version.to_string(),
        id: req.id.clone(),
        parameters: json!({ "deployed_model_id": target.deployed_model_id.to_string(), "model": target.model_name }),
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_ml::train::Values;

    fn features() -> Vec<Feature> {
        vec![
            Feature { name: "x".into(), kind: FeatureKind::Number, categories: vec![] },
            Feature { name: "c".into(), kind: FeatureKind::Text, categories: vec![] },
        ]
    }

    fn tensor(name: &str, shape: Vec<i64>, datatype: &str, data: Value) -> InferInput {
        InferInput { name: name.into(), shape, datatype: datatype.into(), parameters: None, data }
    }

    #[test]
    fn a_matrix_and_named_tensors_give_the_same_columns() {
        let f = features();
        let by_matrix = columns(&f, &[tensor("input", vec![2, 2], "BYTES", json!([["1.5", "a"], ["2", "b"]]))]).unwrap();
        let by_name = columns(&f, &[tensor("c", vec![2], "BYTES", json!(["a", "b"])), tensor("x", vec![2, 1], "FP32", json!([1.5, 2]))]).unwrap();
        assert_eq!(by_matrix, by_name);
        assert_eq!(by_name[0].values, Values::Numbers(vec![1.5, 2.0]));
    }

    #[test]
    fn bad_tensors_are_named() {
        let f = features();
        let err = |inputs: Vec<InferInput>| columns(&f, &inputs).unwrap_err().to_string();
        assert!(err(vec![tensor("m", vec![2, 3], "FP32", json!([1, 2, 3, 4, 5, 6]))]).contains("3 columns, but the model has 2 features"));
        assert!(err(vec![tensor("m", vec![2, 2], "FP32", json!([1, 2, 3]))]).contains("needs 4 values, data has 3"));
        assert!(err(vec![tensor("m", vec![1, 2], "FP99", json!([1, 2]))]).contains("unknown datatype"));
        assert!(err(vec![tensor("m", vec![1, 2], "FP32", json!([1, "a"]))]).contains("FP32 data must be numbers"));
        assert!(err(vec![tensor("x", vec![1], "FP32", json!([1]))]).contains("feature 'c' has no input tensor"));
        assert!(err(vec![tensor("x", vec![1], "FP32", json!([1])), tensor("c", vec![2], "BYTES", json!(["a", "b"]))]).contains("has 2 rows"));
        assert!(err(vec![tensor("x", vec![1], "FP32", json!([1])), tensor("c", vec![1], "BYTES", json!(["a"])), tensor("z", vec![1], "FP32", json!([1]))])
            .contains("'z' is not a feature"));
        assert!(err(vec![tensor("x", vec![1], "BYTES", json!(["old"])), tensor("c", vec![1], "BYTES", json!(["a"]))]).contains("instance 0, feature 'x'"));
        assert!(err(vec![]).contains("empty"));
    }

    #[test]
    fn outputs_wanted_as_binary_follow_the_json_header() {
        let resp = InferResponse {
            model_name: "p.e".into(),
            model_version: "1".into(),
            id: None,
            parameters: json!({}),
            outputs: vec![
                OutputTensor { name: "label".into(), shape: vec![2], datatype: "BYTES", data: vec![json!("ab"), json!("c")] },
                OutputTensor { name: "probabilities".into(), shape: vec![2, 1], datatype: "FP64", data: vec![json!(0.25), json!(1.5)] },
            ],
        };
        let req = |body: Value| BinaryOutputs::of(&serde_json::from_value::<InferRequest>(body).unwrap());
        let (json_only, none) = encode_response(&resp, &req(json!({ "inputs": [] }))).unwrap();
        assert_eq!(none, None);
        assert_eq!(serde_json::from_slice::<Value>(&json_only).unwrap()["outputs"][1]["data"], json!([0.25, 1.5]));
        // All binary but the label, which asks for JSON.
        let wanted = req(json!({ "inputs": [], "parameters": { "binary_data_output": true }, "outputs": [{ "name": "label", "parameters": { "binary_data": false } }, { "name": "probabilities" }] }));
        let (body, n) = encode_response(&resp, &wanted).unwrap();
        let n = n.unwrap();
        let head: Value = serde_json::from_slice(&body[..n]).unwrap();
        assert_eq!(head["outputs"][0]["data"], json!(["ab", "c"]));
        assert_eq!(head["outputs"][1]["parameters"]["binary_data_size"], 16);
        assert!(head["outputs"][1].get("data").is_none());
        let raw = &body[n..];
        assert_eq!(f64::from_le_bytes(raw[..8].try_into().unwrap()), 0.25);
        assert_eq!(f64::from_le_bytes(raw[8..16].try_into().unwrap()), 1.5);
        // BYTES: length-prefixed.
        let (body, n) = encode_response(&resp, &req(json!({ "inputs": [], "outputs": [{ "name": "label", "parameters": { "binary_data": true } }] }))).unwrap();
        assert_eq!(&body[n.unwrap()..n.unwrap() + 10], &[2, 0, 0, 0, b'a', b'b', 1, 0, 0, 0][..]);
    }

    #[test]
    fn binary_tensors_are_read_after_the_json_header() {
        let head = br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},{"name":"c","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]}"#;
        let mut body = head.to_vec();
        body.extend(1.5f32.to_le_bytes());
        body.extend((-2.0f32).to_le_bytes());
        body.extend(3u32.to_le_bytes());
        body.extend(b"abc");
        body.extend(0u32.to_le_bytes());
        let req = parse_request(&body, Some(head.len())).unwrap();
        assert_eq!(req.inputs[0].data, json!([1.5, -2.0]));
        assert_eq!(req.inputs[1].data, json!(["abc", ""]));
        assert!(parse_request(&body[..body.len() - 1], Some(head.len())).unwrap_err().to_string().contains("binary_data_size 11 is more than the 10 bytes left"));
        assert!(decode_binary("c", "BYTES", &[3, 0, 0, 0, b'a']).unwrap_err().to_string().contains("cut short"));
        assert!(decode_binary("x", "FP32", &[0, 0, 0]).unwrap_err().to_string().contains("not a whole number"));
        let mut extra = body.clone();
        extra.push(0);
        assert!(parse_request(&extra, Some(head.len())).unwrap_err().to_string().contains("not claimed"));
        assert!(parse_request(&body, Some(body.len() + 1)).is_err());
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
    }

    #[test]
    fn nan_is_missing() {
        let f = features();
        let cols = columns(&f, &[tensor("x", vec![1], "FP64", json!(["NaN"])), tensor("c", vec![1], "BYTES", json!(["a"]))]).unwrap();
        assert!(matches!(&cols[0].values, Values::Numbers(v) if v[0].is_nan()));
    }
}
