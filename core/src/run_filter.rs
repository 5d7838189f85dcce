//! MLflow's run search grammar: `metrics.loss < 0.5 and params.model = 'rf' and tags.team != 'x'
//! and attributes.status = 'FINISHED'`, and `order_by` terms like `metrics.loss DESC`. Parsed into
//! clauses first (errors name the offending part), then turned into SQL with bound values.

use sqlx::{Postgres, QueryBuilder};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Metric(String),
    Param(String),
    Tag(String),
    /// `status`, `run_name`, `user_id`, `run_id`, `start_time`, `end_time`, `artifact_uri`.
    Attribute(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub entity: Entity,
    pub op: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(f64),
    Op(String),
    Open,
    Close,
    Comma,
}

fn tokens(s: &str) -> Result<Vec<Token>> {
    let bad = |m: String| Error::bad_request(format!("Invalid filter '{s}': {m}"));
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(bad("a quoted value is not closed".into())),
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&x) => {
                        text.push(x);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(text));
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == ',' {
            out.push(Token::Comma);
            i += 1;
        } else if "<>=!".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if ["<=", ">=", "!=", "=="].contains(&two.as_str()) { two } else { c.to_string() };
            if op == "!" {
                return Err(bad("'!' must be followed by '='".into()));
            }
            i += op.len();
            out.push(Token::Op(if op == "==" { "=".into() } else { op }));
        } else if c.is_ascii_digit() || c == '-' || c == '.' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '+' || chars[i] == '-') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse::<f64>().map_err(|_| bad(format!("'{text}' is not a number")))?;
            out.push(Token::Number(n));
        } else {
            // An identifier: letters, digits, '_', '.', and `backquoted` parts.
            let mut text = String::new();
            while i < chars.len() {
                let x = chars[i];
                if x == '`' {
                    let end = chars[i + 1..].iter().position(|&y| y == '`').ok_or_else(|| bad("a `quoted` name is not closed".into()))?;
                    text.extend(&chars[i + 1..i + 1 + end]);
                    i += end + 2;
                } else if x.is_alphanumeric() || x == '_' || x == '.' || x == '-' || x == '/' || x == ':' {
                    text.push(x);
                    i += 1;
                } else {
                    break;
                }
            }
            if text.is_empty() {
                return Err(bad(format!("unexpected character '{c}'")));
            }
            out.push(Token::Ident(text));
        }
    }
    Ok(out)
}

fn entity(ident: &str, whole: &str) -> Result<Entity> {
    let (kind, key) = ident.split_once('.').unwrap_or(("attributes", ident));
    let key = key.trim_matches('"').to_string();
    if key.is_empty() {
        return Err(Error::bad_request(format!("Invalid filter '{whole}': '{ident}' names no key")));
    }
    Ok(match kind.to_ascii_lowercase().as_str() {
        "metric" | "metrics" => Entity::Metric(key),
        "param" | "params" | "parameter" | "parameters" => Entity::Param(key),
        "tag" | "tags" => Entity::Tag(key),
        "attribute" | "attributes" | "attr" | "run" => {
            let k = match key.as_str() {
                "run_uuid" => "run_id".to_string(),
                "created" => "start_time".to_string(),
                other => other.to_string(),
            };
            if !["status", "run_name", "user_id", "run_id", "start_time", "end_time", "artifact_uri", "lifecycle_stage"].contains(&k.as_str()) {
                return Err(Error::bad_request(format!("Invalid attribute key '{key}' specified in filter '{whole}'")));
            }
            Entity::Attribute(k)
        }
        other => return Err(Error::bad_request(format!("Invalid entity type '{other}' in filter '{whole}'. Valid: metrics, params, tags, attributes"))),
    })
}

fn numeric(e: &Entity) -> bool {
    matches!(e, Entity::Metric(_)) || matches!(e, Entity::Attribute(k) if k == "start_time" || k == "end_time")
}

/// Parses a filter string (empty: no clauses).
pub fn parse_filter(s: &str) -> Result<Vec<Clause>> {
    let toks = tokens(s)?;
    let bad = |m: &str| Error::bad_request(format!("Invalid filter '{s}': {m}"));
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !clauses.is_empty() {
            match &toks[i] {
                Token::Ident(w) if w.eq_ignore_ascii_case("and") => i += 1,
                _ => return Err(bad("clauses must be joined by AND (OR is not supported)")),
            }
        }
        let Some(Token::Ident(ident)) = toks.get(i) else { return Err(bad("expected a name such as metrics.loss")) };
        let e = entity(ident, s)?;
        i += 1;
        let op = match toks.get(i) {
            Some(Token::Op(op)) => op.clone(),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("like") => "LIKE".into(),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("ilike") => "ILIKE".into(),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("in") => "IN".into(),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("not") => {
                i += 1;
                match toks.get(i) {
                    Some(Token::Ident(w)) if w.eq_ignore_ascii_case("in") => "NOT IN".into(),
                    _ => return Err(bad("NOT must be followed by IN")),
                }
            }
            _ => return Err(bad(&format!("expected a comparison after '{ident}'"))),
        };
        i += 1;
        let value = if op == "IN" || op == "NOT IN" {
            if toks.get(i) != Some(&Token::Open) {
                return Err(bad("IN needs a list: ('a', 'b')"));
            }
            i += 1;
            let mut items = Vec::new();
            loop {
                match toks.get(i) {
                    Some(Token::Text(t)) => items.push(t.clone()),
                    _ => return Err(bad("IN lists hold quoted strings")),
                }
                i += 1;
                match toks.get(i) {
                    Some(Token::Comma) => i += 1,
                    Some(Token::Close) => {
                        i += 1;
                        break;
                    }
                    _ => return Err(bad("an IN list ends with ')'")),
                }
            }
            Value::List(items)
        } else {
            let v = match toks.get(i) {
                Some(Token::Number(n)) => Value::Number(*n),
                Some(Token::Text(t)) => Value::Text(t.clone()),
                _ => return Err(bad(&format!("expected a value after '{ident} {op}'"))),
            };
            i += 1;
            v
        };
        let ok = match (&e, op.as_str(), &value) {
            (e, "=" | "!=" | ">" | ">=" | "<" | "<=", Value::Number(_)) if numeric(e) => true,
            (Entity::Metric(_), _, _) => false,
            (Entity::Attribute(k), "IN" | "NOT IN", Value::List(_)) => k == "run_id",
            (e, "=" | "!=" | "LIKE" | "ILIKE", Value::Text(_)) if !numeric(e) => true,
            _ => false,
        };
        if !ok {
            return Err(bad(&format!("'{ident} {op}' cannot compare with that value")));
        }
        clauses.push(Clause { entity: e, op, value });
    }
    Ok(clauses)
}

/// One `order_by` term.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub entity: Entity,
    pub ascending: bool,
}

pub fn parse_order(terms: &[String]) -> Result<Vec<Order>> {
    terms
        .iter()
        .map(|t| {
            let t = t.trim();
            let (name, dir) = match t.rsplit_once(char::is_whitespace) {
                Some((n, d)) if d.eq_ignore_ascii_case("asc") || d.eq_ignore_ascii_case("desc") => (n.trim(), d),
                _ => (t, "asc"),
            };
            let ident = match tokens(name)?.as_slice() {
                [Token::Ident(i)] => i.clone(),
                _ => return Err(Error::bad_request(format!("Invalid order_by clause '{t}'"))),
            };
            Ok(Order { entity: entity(&ident, t)?, ascending: dir.eq_ignore_ascii_case("asc") })
        })
        .collect()
}

fn attribute_column(k: &str) -> &'static str {
    match k {
        "status" => "r.status",
        "run_name" => "r.name",
        "user_id" => "r.user_name",
        "run_id" => "r.run_uuid",
        "start_time" => "r.start_time",
        "end_time" => "r.end_time",
        "lifecycle_stage" => "r.lifecycle_stage",
        _ => "('mlflow-artifacts:/' || r.experiment_id || '/' || r.run_uuid || '/artifacts')",
    }
}

fn push_value(q: &mut QueryBuilder<'_, Postgres>, v: &Value) {
    match v {
        Value::Number(n) => q.push_bind(*n),
        Value::Text(t) => q.push_bind(t.clone()),
        Value::List(l) => q.push_bind(l.clone()),
    };
}

/// Appends ` AND …` for each clause (the runs table is `r`).
pub fn push_where(q: &mut QueryBuilder<'_, Postgres>, clauses: &[Clause]) {
    for c in clauses {
        q.push(" AND ");
        let (table, key) = match &c.entity {
            Entity::Metric(k) => ("run_latest_metrics", k),
            Entity::Param(k) => ("run_params", k),
            Entity::Tag(k) => ("run_tags", k),
            Entity::Attribute(k) => {
                let col = attribute_column(k);
                match c.op.as_str() {
                    "IN" => {
                        q.push(format!("{col} = ANY("));
                        push_value(q, &c.value);
                        q.push(")");
                    }
                    "NOT IN" => {
                        q.push(format!("NOT ({col} = ANY("));
                        push_value(q, &c.value);
                        q.push("))");
                    }
                    op => {
                        q.push(format!("{col} {op} "));
                        push_value(q, &c.value);
                    }
                }
                continue;
            }
        };
        q.push(format!("EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = "));
        q.push_bind(key.clone());
        q.push(format!(" AND x.value {} ", c.op));
        push_value(q, &c.value);
        q.push(")");
    }
}

/// Appends ` ORDER BY …` (each term, then MLflow's default: newest first, then id).
pub fn push_order(q: &mut QueryBuilder<'_, Postgres>, orders: &[Order]) {
    q.push(" ORDER BY ");
    for o in orders {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        let sub = |table: &str| format!("(SELECT x.value FROM {table} x WHERE x.run_id = r.id AND x.key = ");
        match &o.entity {
            Entity::Metric(k) => {
                q.push(sub("run_latest_metrics")).push_bind(k.clone()).push(format!(") {dir} NULLS LAST, "));
            }
            Entity::Param(k) => {
                q.push(sub("run_params")).push_bind(k.clone()).push(format!(") {dir} NULLS LAST, "));
            }
            Entity::Tag(k) => {
                q.push(sub("run_tags")).push_bind(k.clone()).push(format!(") {dir} NULLS LAST, "));
            }
            Entity::Attribute(k) => {
                q.push(format!("{} {dir} NULLS LAST, ", attribute_column(k)));
            }
        }
    }
    q.push("r.start_time DESC, r.id DESC");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mlflow_filters() {
        let c = parse_filter("metrics.loss < 0.5 and params.model = 'rf' AND tags.`my tag` != \"x\" and attributes.status = 'FINISHED'").unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], Clause { entity: Entity::Metric("loss".into()), op: "<".into(), value: Value::Number(0.5) });
        assert_eq!(c[2].entity, Entity::Tag("my tag".into()));
        assert_eq!(c[3].entity, Entity::Attribute("status".into()));
        let c = parse_filter("attributes.run_id IN ('a', 'b') and params.lr LIKE '0.%' and metrics.acc >= -1e-3").unwrap();
        assert_eq!(c[0].value, Value::List(vec!["a".into(), "b".into()]));
        assert_eq!(c[2].value, Value::Number(-0.001));
        assert!(parse_filter("").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_mlflow_refuses() {
        for bad in [
            "metrics.loss < 'a'",
            "params.x > 1",
            "metrics.a < 1 or metrics.b < 2",
            "foo.bar = 'x'",
            "attributes.colour = 'red'",
            "params.x = 'unclosed",
            "metrics.loss <",
            "metrics.loss LIKE 'x'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_order_terms() {
        let o = parse_order(&["metrics.loss DESC".into(), "params.`learning rate`".into(), "start_time asc".into()]).unwrap();
        assert_eq!(o[0], Order { entity: Entity::Metric("loss".into()), ascending: false });
        assert_eq!(o[1].entity, Entity::Param("learning rate".into()));
        assert!(o[2].ascending);
        assert!(parse_order(&["metrics.loss sideways".into()]).is_err());
    }
}
