//! TreeSHAP benchmark, Rust side: trains gradient-boosted trees (100 trees, depth 3, learning
//! rate 0.1, as scikit-learn's `GradientBoostingClassifier` defaults) and a random forest (100
//! trees, depth 8) on a numeric table written by `scripts/bench/explain_tree.py write` (features,
//! then `y`), then times the exact TreeSHAP attributions of one row at a time over the first
//! 1,000 rows, as `:explain` computes them.
//!
//!   cargo bench -p trellis-ml --bench explain_tree -- /tmp/bench/explain.csv

use std::collections::BTreeMap;
use std::time::Instant;

use trellis_ml::explain::{explain, training_baseline, FeatureValue, Method};
use trellis_ml::train::{train, Algorithm, Column, Params, Target, Task, TrainingData, Values};

fn main() {
    let path = std::env::args().skip(1).find(|a| a.ends_with(".csv")).expect("give a table written by scripts/bench/explain_tree.py");
    let text = std::fs::read_to_string(&path).expect("read the table");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let features = header.len() - 1;
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); features];
    let mut y = Vec::new();
    for line in lines {
        let cells: Vec<f64> = line.split(',').map(|c| c.parse().expect("a number")).collect();
        for (c, v) in columns.iter_mut().zip(&cells) {
            c.push(*v);
        }
        y.push(cells[features] as u32);
    }
    let rows = y.len();
    let data = TrainingData {
        features: columns.iter().enumerate().map(|(i, v)| Column { name: header[i].to_string(), values: Values::Numbers(v.clone()) }).collect(),
        target: Target::Classes { codes: y, labels: vec!["0".into(), "1".into()] },
        // All rows train but a few, which the trainers need for validation and test.
        split: (0..rows).map(|r| if r % 50 == 0 { 1 } else if r % 50 == 1 { 2 } else { 0 }).collect(),
    };
    let runs: [(Algorithm, serde_json::Value); 2] = [
        (Algorithm::GradientBoosting, serde_json::json!({ "n_estimators": 100, "learning_rate": 0.1, "max_depth": 3, "early_stopping_rounds": 0 })),
        (Algorithm::RandomForest, serde_json::json!({ "n_estimators": 100, "max_depth": 8 })),
    ];
    let explained = rows.min(1_000);
    for (algorithm, given) in runs {
        let given: BTreeMap<String, serde_json::Value> = serde_json::from_value(given).unwrap();
        let params = Params::resolve(algorithm, &given).unwrap();
        let model = train(&data, "y", Task::Binary, algorithm, &params, 0, &|_, _| {}).expect("training").model;
        let baseline = training_baseline(&model);
        let instances: Vec<Vec<FeatureValue>> = (0..explained).map(|r| columns.iter().map(|c| FeatureValue::Number(c[r])).collect()).collect();
        // Once to warm up, then timed.
        explain(&model, &instances[0], &baseline, 1, Method::TreeShap, 0).unwrap();
        let t = Instant::now();
        let mut check = 0.0;
        for x in &instances {
            check += explain(&model, x, &baseline, 1, Method::TreeShap, 0).unwrap().attributions[0];
        }
        let per_row = t.elapsed().as_secs_f64() / explained as f64;
        println!("trellis {} TreeSHAP: {:.1} µs per row ({explained} rows, one at a time; checksum {check:.6})", algorithm.as_str(), per_row * 1e6);
    }
}
