//! The signature of an ONNX model — its graph's inputs and outputs with element types and shapes —
//! read from the file without running it.
//!
//! Only the parts of `onnx.proto` that describe the interface are declared below; protobuf
//! decoding skips everything else (nodes, weights) without copying it.

use serde::{Deserialize, Serialize};

/// Why a file is not a usable ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("not an ONNX model: {0}")]
    Invalid(String),
}

/// A model's interface: what it takes and what it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxSignature {
    pub ir_version: i64,
    /// (domain, version) of each operator set the graph uses; "" is the default ONNX domain.
    pub opsets: Vec<(String, i64)>,
    /// The tool that wrote the file, e.g. `skl2onnx 1.20.0`.
    pub producer: String,
    pub inputs: Vec<ValueSpec>,
    pub outputs: Vec<ValueSpec>,
    /// A classifier's class labels, in output order (from its classifier or ZipMap node's
    /// `classlabels_strings` / `classlabels_int64s`), when the graph names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_labels: Vec<String>,
}

/// One graph input or output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueSpec {
    pub name: String,
    /// `tensor`, `sequence`, `map`, `optional` or `sparse_tensor`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Element type of a tensor (`float32`, `int64`, `string`, …); for a sequence, its
    /// elements' type, e.g. `map(int64,float32)`.
    pub dtype: String,
    /// Tensor dimensions; -1 where the size is not fixed (a batch dimension, say).
    /// `None` when the file does not give a shape.
    pub shape: Option<Vec<i64>>,
}

impl OnnxSignature {
    /// Reads the signature from the bytes of an `.onnx` file.
    pub fn read(bytes: &[u8]) -> Result<Self, OnnxError> {
        let model = <proto::ModelProto as prost::Message>::decode(bytes)?;
        if model.ir_version <= 0 {
            return Err(OnnxError::Invalid("it has no IR version".into()));
        }
        let graph = model.graph.ok_or_else(|| OnnxError::Invalid("it has no graph".into()))?;
        // Files written by old exporters list weights among the inputs as well; they are not inputs.
        let weights: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<ValueSpec> =
            graph.input.iter().filter(|v| !weights.contains(v.name.as_str())).map(value_spec).collect();
        let outputs: Vec<ValueSpec> = graph.output.iter().map(value_spec).collect();
        if inputs.is_empty() {
            return Err(OnnxError::Invalid("its graph has no inputs".into()));
        }
        if outputs.is_empty() {
            return Err(OnnxError::Invalid("its graph has no outputs".into()));
        }
        if let Some(v) = inputs.iter().chain(&outputs).find(|v| v.name.is_empty()) {
            return Err(OnnxError::Invalid(format!("a graph {} has no name", v.kind)));
        }
        let producer = [model.producer_name.trim(), model.producer_version.trim()].join(" ").trim().to_string();
        let class_labels = graph
            .node
            .iter()
            .flat_map(|n| &n.attribute)
            .find_map(|a| match a.name.as_str() {
                "classlabels_strings" if !a.strings.is_empty() => Some(a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
                "classlabels_int64s" | "classlabels_ints" if !a.ints.is_empty() => Some(a.ints.iter().map(|i| i.to_string()).collect()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(OnnxSignature {
            ir_version: model.ir_version,
            opsets: model.opset_import.into_iter().map(|o| (o.domain, o.version)).collect(),
            producer,
            inputs,
            outputs,
            class_labels,
        })
    }
}

fn value_spec(v: &proto::ValueInfoProto) -> ValueSpec {
    let (kind, dtype, shape) = match &v.r#type {
        Some(t) => describe(t),
        None => ("unknown".to_string(), "unknown".to_string(), None),
    };
    ValueSpec { name: v.name.clone(), kind, dtype, shape }
}

/// (kind, element type, shape) of a type.
fn describe(t: &proto::TypeProto) -> (String, String, Option<Vec<i64>>) {
    if let Some(tensor) = &t.tensor_type {
        ("tensor".into(), elem_type(tensor.elem_type).into(), tensor.shape.as_ref().map(shape))
    } else if let Some(tensor) = &t.sparse_tensor_type {
        ("sparse_tensor".into(), elem_type(tensor.elem_type).into(), tensor.shape.as_ref().map(shape))
    } else if let Some(seq) = &t.sequence_type {
        ("sequence".into(), seq.elem_type.as_deref().map(element_name).unwrap_or_else(|| "unknown".into()), None)
    } else if let Some(map) = &t.map_type {
        ("map".into(), map_name(map), None)
    } else if let Some(opt) = &t.optional_type {
        ("optional".into(), opt.elem_type.as_deref().map(element_name).unwrap_or_else(|| "unknown".into()), None)
    } else {
        ("unknown".into(), "unknown".into(), None)
    }
}

fn element_name(t: &proto::TypeProto) -> String {
    let (kind, dtype, _) = describe(t);
    match kind.as_str() {
        "tensor" => dtype,
        "map" => dtype,
        other => format!("{other}({dtype})"),
    }
}

fn map_name(m: &proto::MapProto) -> String {
    let value = m.value_type.as_deref().map(element_name).unwrap_or_else(|| "unknown".into());
    format!("map({},{value})", elem_type(m.key_type))
}

fn shape(s: &proto::TensorShapeProto) -> Vec<i64> {
    s.dim.iter().map(|d| d.dim_value.filter(|v| *v >= 0).unwrap_or(-1)).collect()
}

/// `TensorProto.DataType` names, as numpy spells them.
fn elem_type(code: i32) -> &'static str {
    match code {
        1 => "float32",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "float64",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        _ => "unknown",
    }
}

/// The interface-describing subset of `onnx.proto` (field numbers as in the ONNX repository).
/// `oneof` members are declared as separate optional fields, which decodes the same.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(string, tag = "3")]
        pub producer_version: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<NamedTensor>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    /// A node read for its operator and its integer and string list attributes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        pub strings: Vec<Vec<u8>>,
    }

    /// A `TensorProto` read for its name only.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamedTensor {
        #[prost(string, tag = "8")]
        pub name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorTypeProto>,
        #[prost(message, optional, boxed, tag = "4")]
        pub sequence_type: Option<Box<SequenceProto>>,
        #[prost(message, optional, boxed, tag = "5")]
        pub map_type: Option<Box<MapProto>>,
        #[prost(message, optional, tag = "8")]
        pub sparse_tensor_type: Option<TensorTypeProto>,
        #[prost(message, optional, boxed, tag = "9")]
        pub optional_type: Option<Box<SequenceProto>>,
    }

    /// `TypeProto.Tensor` and `TypeProto.SparseTensor` (same fields).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorTypeProto {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    /// `TypeProto.Sequence` and `TypeProto.Optional` (same fields).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SequenceProto {
        #[prost(message, optional, boxed, tag = "1")]
        pub elem_type: Option<Box<TypeProto>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MapProto {
        #[prost(int32, tag = "1")]
        pub key_type: i32,
        #[prost(message, optional, boxed, tag = "2")]
        pub value_type: Option<Box<TypeProto>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
    }

    /// A logistic regression on the 4 iris features exported by skl2onnx with `zipmap: False`
    /// (see tests/fixtures/README.md).
    #[test]
    fn reads_a_scikit_learn_classifier() {
        let s = OnnxSignature::read(&fixture("iris_logistic.onnx")).unwrap();
        assert!(s.producer.starts_with("skl2onnx"), "{}", s.producer);
        assert!(s.ir_version >= 7);
        assert!(s.opsets.iter().any(|(d, _)| d.is_empty()));
        assert_eq!(
            s.inputs,
            vec![ValueSpec { name: "input".into(), kind: "tensor".into(), dtype: "float32".into(), shape: Some(vec![-1, 4]) }]
        );
        assert_eq!(s.outputs.len(), 2);
        assert_eq!(s.outputs[0].name, "label");
        assert_eq!(s.outputs[0].dtype, "int64");
        assert_eq!(s.outputs[0].shape, Some(vec![-1]));
        assert_eq!(s.outputs[1].name, "probabilities");
        assert_eq!(s.outputs[1].dtype, "float32");
        assert_eq!(s.outputs[1].shape, Some(vec![-1, 3]));
        assert_eq!(s.class_labels, vec!["0", "1", "2"], "from the LinearClassifier node");
    }

    /// The default skl2onnx export ends in ZipMap: a sequence of maps.
    #[test]
    fn reads_a_sequence_of_maps() {
        let s = OnnxSignature::read(&fixture("iris_logistic_zipmap.onnx")).unwrap();
        let probs = &s.outputs[1];
        assert_eq!((probs.kind.as_str(), probs.dtype.as_str(), probs.shape.as_ref()), ("sequence", "map(int64,float32)", None));
    }

    #[test]
    fn refuses_what_is_not_a_model() {
        for bad in [&b""[..], b"print('hello')\n", b"\x08\x07", &[0xff; 64][..]] {
            let e = OnnxSignature::read(bad).unwrap_err();
            assert!(e.to_string().starts_with("not an ONNX model"), "{e}");
        }
        // A model whose graph lost its outputs.
        let mut bytes = fixture("iris_logistic.onnx");
        let mut m = <proto::ModelProto as prost::Message>::decode(&bytes[..]).unwrap();
        m.graph.as_mut().unwrap().output.clear();
        bytes = prost::Message::encode_to_vec(&m);
        assert_eq!(OnnxSignature::read(&bytes).unwrap_err().to_string(), "not an ONNX model: its graph has no outputs");
    }
}
