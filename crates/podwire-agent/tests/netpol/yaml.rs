//! JSON objects printed as YAML, the way people read and paste NetworkPolicies: block
//! mappings and sequences, strings quoted only when YAML would read them as something else.

use serde_json::Value;

/// `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    block(value, 0, &mut out);
    out
}

/// Writes `value` at `indent`, starting on a fresh line.
fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                out.push_str(&format!("{pad}{}:", scalar_text(key)));
                after_key(v, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                match item {
                    // A mapping's first key goes on the dash's line, the others under it.
                    Value::Object(map) if !map.is_empty() => {
                        let mut first = true;
                        for (key, v) in map {
                            if first {
                                out.push_str(&format!(" {}:", scalar_text(key)));
                                first = false;
                            } else {
                                out.push_str(&format!("{pad}  {}:", scalar_text(key)));
                            }
                            after_key(v, indent + 2, out);
                        }
                    }
                    other => after_key(other, indent, out),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", inline(other))),
    }
}

/// Writes what follows `key:` (or `-`) for `value`, whose key sits at `indent`.
fn after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            block(value, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            block(value, indent + 2, out);
        }
        other => out.push_str(&format!(" {}\n", inline(other))),
    }
}

/// A scalar, or an empty mapping or sequence, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_text(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string, quoted when plain YAML would not read it back as that string.
fn scalar_text(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !s.starts_with(['-', '.'])
        && s.parse::<f64>().is_err()
        && !["true", "false", "null", "yes", "no", "on", "off", "~"]
            .contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}
