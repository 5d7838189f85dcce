//! MLflow's search grammar: `metrics.loss < 0.5 and params.model = 'rf' and tags.team != 'x'
//! and attributes.status = 'FINISHED'`, and `order_by` terms like `metrics.loss DESC`. Parsed into
//! clauses first (errors name the offending part), then turned into SQL with bound values. The
//! same grammar searches runs, logged models, registered models and model versions; a [`Target`]
//! says which attributes, metrics, params and tags each has and where they live.

use sqlx::{Postgres, QueryBuilder};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Metric(String),
    Param(String),
    Tag(String),
    /// One of the target's attributes (for runs: `status`, `run_name`, `start_time`, …).
    Attribute(String),
}

/// A searchable attribute: its name in filters, its SQL expression, whether it compares as a
/// number, and whether `IN (…)` lists may name it.
#[derive(Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    pub sql: &'static str,
    pub numeric: bool,
    pub in_list: bool,
}

/// What a search runs over. `key_tables` are (table, column referring to the searched row);
/// the searched row's id is `id`.
pub struct Target {
    pub id: &'static str,
    pub metrics: Option<(&'static str, &'static str)>,
    pub params: Option<(&'static str, &'static str)>,
    pub tags: Option<(&'static str, &'static str)>,
    /// Tags not stored in the tags table: (key, SQL expression of the value, NULL when the row
    /// has no such tag).
    pub derived_tags: &'static [(&'static str, &'static str)],
    pub attributes: &'static [Attribute],
    /// Other names accepted for attributes (`run_uuid` for `run_id`).
    pub synonyms: &'static [(&'static str, &'static str)],
    /// The order after the requested terms.
    pub default_order: &'static str,
    /// Whether `tags.k != 'v'` also matches rows without the tag (MLflow's registry searches,
    /// which exclude prompts with ``tags.`mlflow.prompt.is_prompt` != 'true'``); run searches
    /// need the tag.
    pub missing_tag_is_not_equal: bool,
    /// Whether the metric/param/tag tables hold one row per key (runs' latest metrics, params
    /// and tags): then ordering by them is a join, not a subquery per row.
    pub unique_keys: bool,
    /// When the metrics table also names the searched rows' scope (the runs' experiment) and
    /// holds the default order's columns: searches within a scope then read the values of a
    /// key in order from an index on (scope, key, value, default order).
    pub metrics_scope: Option<MetricsScope>,
}

/// The metrics table's copy of what a search needs from the searched rows: their scope and
/// the default order (the searched rows must never change them).
#[derive(Clone, Copy)]
pub struct MetricsScope {
    pub column: &'static str,
    /// The target's default order, in the metrics table's columns.
    pub default_order: &'static [&'static str],
}

const fn attr(name: &'static str, sql: &'static str, numeric: bool) -> Attribute {
    Attribute { name, sql, numeric, in_list: false }
}

/// Runs (the runs table is `r`).
pub const RUNS: Target = Target {
    id: "r.id",
    metrics: Some(("run_latest_metrics", "run_id")),
    params: Some(("run_params", "run_id")),
    tags: Some(("run_tags", "run_id")),
    derived_tags: &[(crate::tracking::RUN_NAME_TAG, "(CASE WHEN r.name_tagged THEN r.name END)")],
    attributes: &[
        attr("status", "r.status", false),
        attr("run_name", "r.name", false),
        attr("user_id", "r.user_name", false),
        Attribute { name: "run_id", sql: "r.run_uuid", numeric: false, in_list: true },
        attr("start_time", "r.start_time", true),
        attr("end_time", "r.end_time", true),
        attr("lifecycle_stage", "r.lifecycle_stage", false),
        attr("artifact_uri", "('mlflow-artifacts:/' || r.experiment_id || '/' || r.run_uuid || '/artifacts')", false),
    ],
    synonyms: &[("run_uuid", "run_id"), ("created", "start_time"), ("name", "run_name")],
    default_order: "r.start_time DESC, r.id DESC",
    missing_tag_is_not_equal: false,
    unique_keys: true,
    metrics_scope: Some(MetricsScope { column: "experiment_id", default_order: &["run_start_time DESC", "run_id DESC"] }),
};

impl Target {
    fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The SQL expression of a tag the tags table does not hold.
    fn derived_tag(&self, e: &Entity) -> Option<&'static str> {
        let Entity::Tag(key) = e else { return None };
        self.derived_tags.iter().find(|(k, _)| k == key).map(|(_, sql)| *sql)
    }
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

fn entity(target: &Target, ident: &str, whole: &str) -> Result<Entity> {
    let (kind, key) = match ident.split_once('.') {
        // A bare attribute whose name holds a dot does not occur; `a.b` is always kind.key.
        Some((kind, key)) => (kind, key),
        None => ("attributes", ident),
    };
    let key = key.trim_matches('"').to_string();
    if key.is_empty() {
        return Err(Error::bad_request(format!("Invalid filter '{whole}': '{ident}' names no key")));
    }
    let unsupported = |what: &str| Err(Error::bad_request(format!("Invalid filter '{whole}': {what} cannot be searched here")));
    Ok(match kind.to_ascii_lowercase().as_str() {
        "metric" | "metrics" if target.metrics.is_some() => Entity::Metric(key),
        "param" | "params" | "parameter" | "parameters" if target.params.is_some() => Entity::Param(key),
        "tag" | "tags" if target.tags.is_some() => Entity::Tag(key),
        "metric" | "metrics" => return unsupported("metrics"),
        "param" | "params" | "parameter" | "parameters" => return unsupported("params"),
        "tag" | "tags" => return unsupported("tags"),
        "attribute" | "attributes" | "attr" | "run" | "model" => {
            let k = target.synonyms.iter().find(|(from, _)| *from == key).map(|(_, to)| to.to_string()).unwrap_or(key.clone());
            if target.attribute(&k).is_none() {
                let valid: Vec<&str> = target.attributes.iter().map(|a| a.name).collect();
                return Err(Error::bad_request(format!(
                    "Invalid attribute key '{key}' specified in filter '{whole}'. Valid keys: {}",
                    valid.join(", ")
                )));
            }
            Entity::Attribute(k)
        }
        other => return Err(Error::bad_request(format!("Invalid entity type '{other}' in filter '{whole}'. Valid: metrics, params, tags, attributes"))),
    })
}

fn numeric(target: &Target, e: &Entity) -> bool {
    match e {
        Entity::Metric(_) => true,
        Entity::Attribute(k) => target.attribute(k).is_some_and(|a| a.numeric),
        _ => false,
    }
}

/// Parses a filter string for runs (empty: no clauses).
pub fn parse_filter(s: &str) -> Result<Vec<Clause>> {
    parse_filter_for(&RUNS, s)
}

/// Parses a filter string for `target` (empty: no clauses).
pub fn parse_filter_for(target: &Target, s: &str) -> Result<Vec<Clause>> {
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
        let e = entity(target, ident, s)?;
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
            (e, "=" | "!=" | ">" | ">=" | "<" | "<=", Value::Number(_)) if numeric(target, e) => true,
            (Entity::Metric(_), _, _) => false,
            (Entity::Attribute(k), "IN" | "NOT IN", Value::List(_)) => target.attribute(k).is_some_and(|a| a.in_list),
            (e, "=" | "!=" | "LIKE" | "ILIKE", Value::Text(_)) if !numeric(target, e) => true,
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
    parse_order_for(&RUNS, terms)
}

pub fn parse_order_for(target: &Target, terms: &[String]) -> Result<Vec<Order>> {
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
            Ok(Order { entity: entity(target, &ident, t)?, ascending: dir.eq_ignore_ascii_case("asc") })
        })
        .collect()
}

fn attribute_column(target: &Target, k: &str) -> &'static str {
    target.attribute(k).map_or("NULL", |a| a.sql)
}

/// The table holding `e`'s values; none for attributes and derived tags.
fn key_table(target: &Target, e: &Entity) -> Option<(&'static str, &'static str)> {
    if target.derived_tag(e).is_some() {
        return None;
    }
    match e {
        Entity::Metric(_) => target.metrics,
        Entity::Param(_) => target.params,
        Entity::Tag(_) => target.tags,
        Entity::Attribute(_) => None,
    }
}

fn push_value(q: &mut QueryBuilder<'_, Postgres>, v: &Value) {
    match v {
        Value::Number(n) => q.push_bind(*n),
        Value::Text(t) => q.push_bind(t.clone()),
        Value::List(l) => q.push_bind(l.clone()),
    };
}

/// Appends ` AND …` for each clause.
pub fn push_where(q: &mut QueryBuilder<'_, Postgres>, target: &Target, clauses: &[Clause]) {
    push_where_joined(q, target, clauses, &[]);
}

/// The alias of the join [`push_order_joins`] made for `entity`, if it made one.
fn joined_alias(target: &Target, orders: &[Order], entity: &Entity) -> Option<String> {
    if !target.unique_keys || matches!(entity, Entity::Attribute(_)) {
        return None;
    }
    orders.iter().position(|o| &o.entity == entity).map(|i| format!("o{i}"))
}

/// [`push_where`] after [`push_order_joins`] with `orders`: a clause on a key the order already
/// joined compares the joined value (one row per key) instead of looking the key up again.
pub fn push_where_joined(q: &mut QueryBuilder<'_, Postgres>, target: &Target, clauses: &[Clause], orders: &[Order]) {
    for c in clauses {
        q.push(" AND ");
        let key = match &c.entity {
            Entity::Metric(k) | Entity::Param(k) | Entity::Tag(k) => k,
            Entity::Attribute(k) => {
                let col = attribute_column(target, k);
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
        if let Some(sql) = target.derived_tag(&c.entity) {
            // NULL (no tag) matches no comparison: runs without the tag are left out.
            q.push(format!("{sql} {} ", c.op));
            push_value(q, &c.value);
            continue;
        }
        let Some((table, column)) = key_table(target, &c.entity) else { continue };
        let negated = target.missing_tag_is_not_equal && matches!(c.entity, Entity::Tag(_)) && c.op == "!=";
        if let Some(alias) = joined_alias(target, orders, &c.entity).filter(|_| !negated) {
            q.push(format!("{alias}.value {} ", c.op));
            push_value(q, &c.value);
            continue;
        }
        let (head, op) = if negated { ("NOT EXISTS", "=") } else { ("EXISTS", c.op.as_str()) };
        q.push(format!("{head} (SELECT 1 FROM {table} x WHERE x.{column} = {} AND x.key = ", target.id));
        q.push_bind(key.clone());
        q.push(format!(" AND x.value {op} "));
        push_value(q, &c.value);
        q.push(")");
    }
}

/// Whether an order term's key must be present anyway (a filter clause names the same key):
/// then its join is an inner one, and its order can come from an index on the values.
fn required_by_filter(o: &Order, clauses: &[Clause]) -> bool {
    clauses.iter().any(|c| c.entity == o.entity)
}

/// Appends the joins that order terms on one-row-per-key tables need (` JOIN … oN`, or LEFT
/// JOIN when runs without the key stay in the result); call it right after the searched table
/// in FROM, before WHERE.
pub fn push_order_joins(q: &mut QueryBuilder<'_, Postgres>, target: &Target, orders: &[Order], clauses: &[Clause]) {
    if !target.unique_keys {
        return;
    }
    for (i, o) in orders.iter().enumerate() {
        if let (Entity::Metric(k) | Entity::Param(k) | Entity::Tag(k), Some((table, column))) = (&o.entity, key_table(target, &o.entity)) {
            let join = if required_by_filter(o, clauses) { "JOIN" } else { "LEFT JOIN" };
            q.push(format!(" {join} {table} o{i} ON o{i}.{column} = {} AND o{i}.key = ", target.id)).push_bind(k.clone());
        }
    }
}

/// The metric order term whose values restrict the search to a scope: the first one that
/// [`push_order_joins`] joined and the filter requires, when the target's metrics table names
/// the scope.
fn scoped_term(target: &Target, orders: &[Order], clauses: &[Clause]) -> Option<(usize, MetricsScope)> {
    let scope = target.metrics_scope.filter(|_| target.unique_keys)?;
    let i = orders.iter().position(|o| matches!(o.entity, Entity::Metric(_)) && required_by_filter(o, clauses))?;
    Some((i, scope))
}

/// Restricts the rows to `scope` (the runs' experiments) through the values of the
/// [scoped term](scoped_term) (`oN.<scope> = …`): the values of that key within one scope then
/// come in order from its index. Returns whether it did; if not, the caller restricts the rows.
pub fn push_order_scope(q: &mut QueryBuilder<'_, Postgres>, target: &Target, orders: &[Order], clauses: &[Clause], scope: &[i64]) -> bool {
    let Some((i, s)) = scoped_term(target, orders, clauses) else { return false };
    push_one_of(q, &format!("o{i}.{}", s.column), scope);
    true
}

/// Appends `<expr> = <id>` for one id (which an index can serve in order), else
/// `<expr> = ANY(<ids>)`.
pub fn push_one_of(q: &mut QueryBuilder<'_, Postgres>, expr: &str, ids: &[i64]) {
    match ids {
        [one] => q.push(format!("{expr} = ")).push_bind(*one),
        many => q.push(format!("{expr} = ANY(")).push_bind(many.to_vec()).push(")"),
    };
}

/// Appends ` ORDER BY …` (each term, then the target's default order). Runs without an
/// ordered key come last; `clauses` are the filter's, as given to [`push_order_joins`].
pub fn push_order(q: &mut QueryBuilder<'_, Postgres>, target: &Target, orders: &[Order], clauses: &[Clause]) {
    q.push(" ORDER BY ");
    for (i, o) in orders.iter().enumerate() {
        let dir = if o.ascending { "ASC" } else { "DESC" };
        match (&o.entity, key_table(target, &o.entity)) {
            (Entity::Metric(_) | Entity::Param(_) | Entity::Tag(_), Some(_)) if target.unique_keys => {
                // Inner-joined values are never NULL: the index order (NULLS FIRST when
                // descending) is then the same order.
                let nulls = if required_by_filter(o, clauses) { "" } else { " NULLS LAST" };
                q.push(format!("o{i}.value {dir}{nulls}, "));
            }
            (Entity::Metric(k) | Entity::Param(k) | Entity::Tag(k), Some((table, column))) => {
                q.push(format!("(SELECT x.value FROM {table} x WHERE x.{column} = {} AND x.key = ", target.id))
                    .push_bind(k.clone())
                    .push(format!(" ORDER BY x.value DESC LIMIT 1) {dir} NULLS LAST, "));
            }
            (Entity::Attribute(k), _) => {
                q.push(format!("{} {dir} NULLS LAST, ", attribute_column(target, k)));
            }
            (e, None) => {
                if let Some(sql) = target.derived_tag(e) {
                    q.push(format!("{sql} {dir} NULLS LAST, "));
                }
            }
        }
    }
    // The same order, in the scoped term's columns when there is one (its index then holds it).
    match scoped_term(target, orders, clauses) {
        Some((i, scope)) => q.push(scope.default_order.iter().map(|c| format!("o{i}.{c}")).collect::<Vec<_>>().join(", ")),
        None => q.push(target.default_order),
    };
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
