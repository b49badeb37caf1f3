//! The config view: every field of two image configs, labels one by one, history entry
//! by entry, `created` as a time.

use serde_json::Value;

use super::report::Field;
use super::DiffOptions;

/// Absent, null, and empty lists or maps all mean "nothing set".
fn is_nothing(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        _ => false,
    }
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    (is_nothing(a) && is_nothing(b)) || a == b
}

fn show(v: Option<&Value>) -> String {
    match v {
        _ if is_nothing(v) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "-".to_string(),
    }
}

fn keys<'a>(a: Option<&'a Value>, b: Option<&'a Value>) -> Vec<&'a String> {
    let mut k: Vec<&String> = a
        .and_then(Value::as_object)
        .into_iter()
        .chain(b.and_then(Value::as_object))
        .flat_map(|m| m.keys())
        .collect();
    k.sort();
    k.dedup();
    k
}

/// Compare two configs; `push` receives each difference in order.
pub(crate) fn compare(
    a: &Value,
    b: &Value,
    o: &DiffOptions,
    push: &mut dyn FnMut(String, Field, String, String),
) {
    let mut d = |loc: String, field: Field, x: Option<&Value>, y: Option<&Value>| {
        if !same(x, y) {
            push(loc, field, show(x), show(y));
        }
    };
    for k in keys(Some(a), Some(b)) {
        let (x, y) = (a.get(k), b.get(k));
        match k.as_str() {
            "rootfs" => {} // the layer views explain the layers
            "created" => {
                if !o.ignore_mtime {
                    d("config.created".into(), Field::Created, x, y)
                }
            }
            "history" => {
                if !o.ignore_history {
                    history(x, y, o, &mut d)
                }
            }
            "config" => {
                for ck in keys(x, y) {
                    let (cx, cy) = (x.and_then(|v| v.get(ck)), y.and_then(|v| v.get(ck)));
                    if ck == "Labels" {
                        for lk in keys(cx, cy) {
                            if o.ignore_labels.iter().any(|i| i == lk) {
                                continue;
                            }
                            d(
                                format!("config.Labels.{lk}"),
                                Field::Label,
                                cx.and_then(|v| v.get(lk)),
                                cy.and_then(|v| v.get(lk)),
                            );
                        }
                    } else {
                        d(format!("config.{ck}"), Field::Config, cx, cy);
                    }
                }
            }
            _ => d(k.clone(), Field::Config, x, y),
        }
    }
}

#[allow(clippy::type_complexity)]
fn history(
    x: Option<&Value>,
    y: Option<&Value>,
    o: &DiffOptions,
    d: &mut dyn FnMut(String, Field, Option<&Value>, Option<&Value>),
) {
    let empty = Vec::new();
    let hx = x.and_then(Value::as_array).unwrap_or(&empty);
    let hy = y.and_then(Value::as_array).unwrap_or(&empty);
    for i in 0..hx.len().max(hy.len()) {
        let (ex, ey) = (hx.get(i), hy.get(i));
        if ex.is_none() || ey.is_none() {
            d(format!("config.history[{i}]"), Field::History, ex, ey);
            continue;
        }
        for k in keys(ex, ey) {
            let (vx, vy) = (ex.and_then(|v| v.get(k)), ey.and_then(|v| v.get(k)));
            let vx = vx.filter(|v| !(k == "empty_layer" && **v == Value::Bool(false)));
            let vy = vy.filter(|v| !(k == "empty_layer" && **v == Value::Bool(false)));
            if k == "created" {
                if !o.ignore_mtime {
                    d(
                        format!("config.history[{i}].created"),
                        Field::Created,
                        vx,
                        vy,
                    );
                }
            } else {
                d(format!("config.history[{i}].{k}"), Field::History, vx, vy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(a: Value, b: Value, o: &DiffOptions) -> Vec<(String, Field)> {
        let mut out = Vec::new();
        compare(&a, &b, o, &mut |l, f, _, _| out.push((l, f)));
        out
    }

    #[test]
    fn names_labels_env_and_created() {
        let a = json!({"created":"1970-01-01T00:00:00Z","config":{"Env":["A=1"],"Labels":{"x":"1","io.buildah.version":"1"}}});
        let b =
            json!({"created":"2020-01-01T00:00:00Z","config":{"Env":["A=2"],"Labels":{"x":"1"}}});
        let got = run(a.clone(), b.clone(), &DiffOptions::default());
        assert_eq!(
            got,
            vec![
                ("config.Env".to_string(), Field::Config),
                ("config.Labels.io.buildah.version".to_string(), Field::Label),
                ("config.created".to_string(), Field::Created),
            ]
        );
        let o = DiffOptions {
            ignore_mtime: true,
            ignore_labels: vec!["io.buildah.version".into()],
            ..Default::default()
        };
        assert_eq!(
            run(a, b, &o),
            vec![("config.Env".to_string(), Field::Config)]
        );
    }

    #[test]
    fn empty_and_absent_are_the_same() {
        let a = json!({"config":{"Labels":{}, "Volumes": null}});
        let b = json!({"config":{}});
        assert!(run(a, b, &DiffOptions::default()).is_empty());
    }
}
