//! Profiling statistics checked against numpy on a committed CSV (see fixtures/README.md).

use serde_json::Value;
use trellis_ml::profile::{ColumnType, Profiler};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn statistics_match_numpy() {
    let text = include_str!("fixtures/customers.csv");
    let expected: Value = serde_json::from_str(include_str!("fixtures/customers.expected.json")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut p = Profiler::new(header);
    for r in &rows {
        p.push(r.iter().copied());
    }
    let mut pass = p.finish();
    for r in &rows {
        pass.push(r.iter().copied());
    }
    let profile = pass.finish();
    assert_eq!(profile.rows, expected["rows"].as_u64().unwrap());

    for name in ["age", "income", "score"] {
        let c = profile.columns.iter().find(|c| c.name == name).unwrap();
        let e = &expected["columns"][name];
        assert_eq!(c.count, e["count"].as_u64().unwrap(), "{name} count");
        assert_eq!(c.missing, e["missing"].as_u64().unwrap(), "{name} missing");
        assert_eq!(c.distinct, e["distinct"].as_u64().unwrap(), "{name} distinct");
        assert!(c.distinct_exact && c.quantiles_exact);
        for (field, got) in [("mean", c.mean), ("std", c.std), ("min", c.min), ("max", c.max)] {
            let want = e[field].as_f64().unwrap();
            assert!(close(got.unwrap(), want), "{name} {field}: {got:?} vs {want}");
        }
        for ((_, got), want) in c.quantiles.iter().zip(e["quantiles"].as_array().unwrap()) {
            assert!(close(*got, want.as_f64().unwrap()), "{name} quantile {got} vs {want}");
        }
        let counts: Vec<u64> = e["histogram_counts"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(c.histogram.as_ref().unwrap().counts, counts, "{name} histogram");
    }
    assert_eq!(profile.columns[0].column_type, ColumnType::Integer);
    assert_eq!(profile.columns[1].column_type, ColumnType::Float);
    assert_eq!(profile.columns[3].column_type, ColumnType::String);
    assert_eq!(profile.columns[4].column_type, ColumnType::Boolean);
    for name in ["plan", "churned"] {
        let c = profile.columns.iter().find(|c| c.name == name).unwrap();
        let want: Vec<(String, u64)> = expected["columns"][name]["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_u64().unwrap()))
            .collect();
        assert_eq!(c.top, want, "{name} top values");
    }
}
