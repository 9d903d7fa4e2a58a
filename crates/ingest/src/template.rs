//! Templates that build entity ids, types and attribute values from a message: literal
//! text with `{field.path}` placeholders for payload fields and `{topic[N]}` for the N-th
//! level of the topic (from 0). `{{` and `}}` are literal braces.

use serde_json::Value;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A payload field by its dotted path.
    Field(Vec<String>),
    /// A level of the topic.
    Topic(usize),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("{text:?}: a '{{' is not closed")),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(name.trim(), text)?);
                }
                '}' => return Err(format!("{text:?}: a '}}' has no '{{' (write '}}}}')")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// The payload fields the template reads (dotted paths).
    pub fn fields(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(path) => Some(path.join(".")),
            _ => None,
        })
    }

    /// The text for one message; a missing field or topic level, or a field that is an
    /// object, array or null, is an error naming it.
    pub fn render(&self, topic: &[&str], payload: &Value) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Topic(n) => match topic.get(*n) {
                    Some(level) => out.push_str(level),
                    None => return Err(format!("the topic has no level {n}")),
                },
                Part::Field(path) => match lookup(payload, path) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                    Some(_) => {
                        return Err(format!(
                            "field {} is not a string or number",
                            path.join(".")
                        ))
                    }
                    None => return Err(format!("field {} is missing", path.join("."))),
                },
            }
        }
        Ok(out)
    }
}

fn placeholder(name: &str, text: &str) -> Result<Part, String> {
    if let Some(index) = name
        .strip_prefix("topic[")
        .and_then(|r| r.strip_suffix(']'))
    {
        return index
            .trim()
            .parse()
            .map(Part::Topic)
            .map_err(|_| format!("{text:?}: {{{name}}} needs a level number"));
    }
    let path = parse_path(name).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(Part::Field(path))
}

/// A dotted field path (`a.b.c`), each segment non-empty.
pub fn parse_path(path: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || s.contains(['{', '}', '[']))
    {
        return Err(format!("{path:?} is not a field path (a.b.c)"));
    }
    Ok(segments)
}

/// The value at a dotted path of a JSON object; null counts as missing.
pub fn lookup<'a>(payload: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut at = payload;
    for segment in path {
        at = at.as_object()?.get(segment)?;
    }
    (!at.is_null()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_take_payload_fields_and_topic_levels() {
        let t = Template::parse("urn:ngsi-ld:ParkingSpot:{topic[2]}-{sensor_id}").unwrap();
        let topic = ["sensors", "parking", "lotA"];
        let id = t.render(&topic, &json!({"sensor_id": "017"})).unwrap();
        assert_eq!(id, "urn:ngsi-ld:ParkingSpot:lotA-017");
        let nested = Template::parse("{a.b}:{n}").unwrap();
        assert_eq!(
            nested
                .render(&[], &json!({"a": {"b": "x"}, "n": 7}))
                .unwrap(),
            "x:7"
        );
        assert_eq!(nested.fields().collect::<Vec<_>>(), ["a.b", "n"]);
    }

    #[test]
    fn missing_values_are_errors_naming_them() {
        let t = Template::parse("{topic[5]}").unwrap();
        assert_eq!(
            t.render(&["a"], &json!({})).unwrap_err(),
            "the topic has no level 5"
        );
        let t = Template::parse("x{id}").unwrap();
        assert_eq!(
            t.render(&[], &json!({"id": null})).unwrap_err(),
            "field id is missing"
        );
        assert!(t.render(&[], &json!({"id": {"a": 1}})).is_err());
    }

    #[test]
    fn braces_are_escaped_by_doubling_and_bad_ones_refused() {
        let t = Template::parse("{{literal}}").unwrap();
        assert_eq!(t.render(&[], &json!({})).unwrap(), "{literal}");
        for bad in ["{open", "close}", "{topic[x]}", "{a..b}", "{}"] {
            assert!(Template::parse(bad).is_err(), "{bad:?}");
        }
    }
}
