//! Runs as MLflow's `Run` message, serialised straight from the stored run (no intermediate
//! JSON tree: a page of search results is thousands of values).

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde::Serialize as DeriveSerialize;
use trellis_core::logged_models::DatasetInput;
use trellis_core::run_cache::KeptRun;
use trellis_core::tracking::{Metric, Run};

/// A float as MLflow writes it: NaN and infinities as the strings protobuf's JSON uses.
pub struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        if x.is_nan() {
            s.serialize_str("NaN")
        } else if x == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if x == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(x)
        }
    }
}

/// `[{"key", "value"}, …]`
pub struct KeyValues<'a>(pub &'a [(String, String)]);

impl Serialize for KeyValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(DeriveSerialize)]
        struct Pair<'a> {
            key: &'a str,
            value: &'a str,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (key, value) in self.0 {
            seq.serialize_element(&Pair { key, value })?;
        }
        seq.end()
    }
}

#[derive(DeriveSerialize)]
pub struct MetricJson<'a> {
    key: &'a str,
    value: Number,
    timestamp: i64,
    step: i64,
}

impl<'a> From<&'a Metric> for MetricJson<'a> {
    fn from(m: &'a Metric) -> Self {
        MetricJson { key: &m.key, value: Number(m.value), timestamp: m.timestamp, step: m.step }
    }
}

/// MLflow's `RunInfo`.
#[derive(DeriveSerialize)]
pub struct RunInfoJson<'a> {
    run_id: &'a str,
    run_uuid: &'a str,
    run_name: &'a str,
    experiment_id: String,
    user_id: &'a str,
    status: &'a str,
    start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
    artifact_uri: String,
    lifecycle_stage: &'a str,
}

impl<'a> From<&'a Run> for RunInfoJson<'a> {
    fn from(r: &'a Run) -> Self {
        RunInfoJson {
            run_id: &r.run_uuid,
            run_uuid: &r.run_uuid,
            run_name: &r.name,
            experiment_id: r.experiment_id.to_string(),
            user_id: &r.user_name,
            status: &r.status,
            start_time: r.start_time,
            end_time: r.end_time,
            artifact_uri: format!("mlflow-artifacts:/{}/{}/artifacts", r.experiment_id, r.run_uuid),
            lifecycle_stage: &r.lifecycle_stage,
        }
    }
}

/// MLflow's `Run`: info, data (latest metrics, params, tags), inputs and outputs.
pub struct RunJson<'a>(pub &'a Run);

impl Serialize for RunJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(DeriveSerialize)]
        struct Whole<'a> {
            info: RunInfoJson<'a>,
            data: Data<'a>,
            inputs: Inputs<'a>,
            outputs: Outputs<'a>,
        }
        #[derive(DeriveSerialize)]
        struct Data<'a> {
            metrics: Vec<MetricJson<'a>>,
            params: KeyValues<'a>,
            tags: KeyValues<'a>,
        }
        #[derive(DeriveSerialize)]
        struct Inputs<'a> {
            dataset_inputs: Vec<DatasetInputJson<'a>>,
            model_inputs: Vec<ModelId<'a>>,
        }
        #[derive(DeriveSerialize)]
        struct Outputs<'a> {
            model_outputs: Vec<ModelOutput<'a>>,
        }
        #[derive(DeriveSerialize)]
        struct ModelId<'a> {
            model_id: &'a str,
        }
        #[derive(DeriveSerialize)]
        struct ModelOutput<'a> {
            model_id: &'a str,
            step: i64,
        }
        let r = self.0;
        Whole {
            info: RunInfoJson::from(r),
            data: Data { metrics: r.metrics.iter().map(MetricJson::from).collect(), params: KeyValues(&r.params), tags: KeyValues(&r.tags) },
            inputs: Inputs {
                dataset_inputs: r.links.datasets.iter().map(DatasetInputJson::from).collect(),
                model_inputs: r.links.model_inputs.iter().map(|m| ModelId { model_id: m }).collect(),
            },
            outputs: Outputs { model_outputs: r.links.model_outputs.iter().map(|(m, step)| ModelOutput { model_id: m, step: *step }).collect() },
        }
        .serialize(s)
    }
}

/// MLflow's `DatasetInput`.
#[derive(DeriveSerialize)]
pub struct DatasetInputJson<'a> {
    tags: KeyValues<'a>,
    dataset: DatasetJson<'a>,
}

#[derive(DeriveSerialize)]
struct DatasetJson<'a> {
    name: &'a str,
    digest: &'a str,
    source_type: &'a str,
    source: &'a str,
    schema: &'a str,
    profile: &'a str,
}

impl<'a> From<&'a DatasetInput> for DatasetInputJson<'a> {
    fn from(d: &'a DatasetInput) -> Self {
        DatasetInputJson {
            tags: KeyValues(&d.tags),
            dataset: DatasetJson { name: &d.name, digest: &d.digest, source_type: &d.source_type, source: &d.source, schema: &d.schema, profile: &d.profile },
        }
    }
}

/// A page of `runs/search`, `{"runs": […], "next_page_token"?}`, written from each run's JSON
/// as kept with it (rendered once per run and revision).
pub fn runs_page(runs: &[std::sync::Arc<KeptRun>], next_page_token: Option<&str>) -> Vec<u8> {
    let render = |r: &Run| serde_json::to_vec(&RunJson(r)).expect("a run serialises");
    let jsons: Vec<&[u8]> = runs.iter().map(|r| r.json(render)).collect();
    let mut out = Vec::with_capacity(64 + jsons.iter().map(|j| j.len() + 1).sum::<usize>());
    out.extend_from_slice(b"{\"runs\":[");
    for (i, j) in jsons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(j);
    }
    out.push(b']');
    if let Some(token) = next_page_token {
        out.extend_from_slice(b",\"next_page_token\":");
        serde_json::to_writer(&mut out, token).expect("a string serialises");
    }
    out.push(b'}');
    out
}
