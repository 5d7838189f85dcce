//! Training benchmark, Rust side: trains gradient boosting and a random forest on a numeric table
//! written by `scripts/bench/training.py write` (features, then `y` and `split`), with the
//! parameters the Python side gives LightGBM and scikit-learn, and prints time and test AUC.
//! Besides the whole of `train` (preprocessing, fitting, evaluating on validation and test), it
//! prints the fitting alone — what the Python side times (`fit`) — taken from the progress
//! messages `train` sends when fitting starts and when evaluation starts.
//!
//!   cargo bench -p trellis-ml --bench train_tabular -- /tmp/bench/generated_1m.csv

use std::collections::BTreeMap;
use std::time::Instant;

use trellis_ml::evaluate::Report;
use trellis_ml::train::{train, Algorithm, Column, Params, Target, Task, TrainingData, Values};

fn main() {
    let path = std::env::args().skip(1).find(|a| a.ends_with(".csv")).expect("give a table written by scripts/bench/training.py");
    let text = std::fs::read_to_string(&path).expect("read the table");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let features = header.len() - 2;
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); features];
    let (mut y, mut split) = (Vec::new(), Vec::new());
    for line in lines {
        let cells: Vec<f64> = line.split(',').map(|c| c.parse().expect("a number")).collect();
        for (c, v) in columns.iter_mut().zip(&cells) {
            c.push(*v);
        }
        y.push(cells[features] as u32);
        split.push(cells[features + 1] as u8);
    }
    let data = TrainingData {
        features: columns.into_iter().enumerate().map(|(i, v)| Column { name: header[i].to_string(), values: Values::Numbers(v) }).collect(),
        target: Target::Classes { codes: y, labels: vec!["0".into(), "1".into()] },
        split,
    };
    println!("{path}: {} rows × {features} features", data.target.len());
    let runs: [(Algorithm, serde_json::Value); 2] = [
        (Algorithm::GradientBoosting, serde_json::json!({ "n_estimators": 300, "learning_rate": 0.1, "max_depth": 6, "l2": 1.0, "early_stopping_rounds": 20 })),
        (Algorithm::RandomForest, serde_json::json!({ "n_estimators": 100, "max_depth": 16 })),
    ];
    for (algorithm, given) in runs {
        let given: BTreeMap<String, serde_json::Value> = serde_json::from_value(given).unwrap();
        let params = Params::resolve(algorithm, &given).unwrap();
        let phases = std::sync::Mutex::new(Vec::new());
        let t = Instant::now();
        let outcome = train(&data, "y", Task::Binary, algorithm, &params, 0, &|_, message| {
            phases.lock().unwrap().push((message.to_string(), t.elapsed().as_secs_f64()));
        })
        .expect("training");
        let secs = t.elapsed().as_secs_f64();
        let phases = phases.into_inner().unwrap();
        let at = |start: &str| phases.iter().find(|(m, _)| m.starts_with(start)).map(|(_, s)| *s);
        let fitting = at("training ").zip(at("evaluating")).map(|(a, b)| b - a).unwrap_or(f64::NAN);
        let auc = outcome.reports.iter().find(|(s, _)| s == "test").and_then(|(_, r)| match r {
            Report::Classification(c) => c.roc_auc,
            _ => None,
        });
        let trees = match &outcome.model.estimator {
            trellis_ml::train::Estimator::GradientBoosting(b) => format!(", {} trees", b.trees()[0]),
            _ => String::new(),
        };
        println!("trellis {}: {secs:.3} s in all, fitting {fitting:.3} s{trees}, test AUC {:.4}", algorithm.as_str(), auc.unwrap_or(f64::NAN));
    }
}
