//! Reading a source's discovery answers (clauses 5.2.24-5.2.28): an EntityTypeList,
//! EntityType array, EntityTypeInfo, AttributeList, Attribute array or Attribute, the names
//! expanded with the @context the request was sent with. Attribute kinds the spec does not
//! name are left out.

use std::collections::BTreeSet;

use rigel_broker::discovery::{AttributeDetails, TypeDetails};
use rigel_broker::federation::{Discovered, SourceDiscovery, SourceError};
use rigel_model::{TermMap, ATTRIBUTE_KINDS};
use serde_json::Value;

/// The answer to `ask`; `None` (a 404 or an empty body) is nothing found.
pub fn read(
    ask: SourceDiscovery<'_>,
    body: Option<Value>,
    terms: &dyn TermMap,
) -> Result<Discovered, SourceError> {
    let names = |value: Option<&Value>| -> BTreeSet<String> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|n| terms.expand(n).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let kinds = |value: Option<&Value>| -> BTreeSet<&'static str> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|k| ATTRIBUTE_KINDS.iter().copied().find(|known| *known == k))
                    .collect()
            })
            .unwrap_or_default()
    };
    let count = |value: Option<&Value>| {
        value
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    let Some(body) = body else {
        return Ok(match ask {
            SourceDiscovery::Types
            | SourceDiscovery::TypeDetails
            | SourceDiscovery::TypeInfo(_) => Discovered::Types(Vec::new()),
            _ => Discovered::Attributes(Vec::new()),
        });
    };
    let items = |body: &Value| -> Result<Vec<Value>, SourceError> {
        match body {
            Value::Array(items) => Ok(items.clone()),
            other => Err(SourceError::Invalid(format!(
                "expected an array, got {other}"
            ))),
        }
    };
    let name = |item: &Value, member: &str| -> Result<String, SourceError> {
        item.get(member)
            .and_then(Value::as_str)
            .map(|n| terms.expand(n).into_owned())
            .ok_or_else(|| SourceError::Invalid(format!("no {member} in {item}")))
    };
    Ok(match ask {
        SourceDiscovery::Types => Discovered::Types(
            names(body.get("typeList"))
                .into_iter()
                .map(|type_iri| TypeDetails {
                    type_iri,
                    ..TypeDetails::default()
                })
                .collect(),
        ),
        SourceDiscovery::TypeDetails => Discovered::Types(
            items(&body)?
                .iter()
                .map(|item| {
                    Ok(TypeDetails {
                        type_iri: name(item, "typeName")?,
                        entity_count: 0,
                        attributes: names(item.get("attributeNames"))
                            .into_iter()
                            .map(|a| (a, BTreeSet::new()))
                            .collect(),
                    })
                })
                .collect::<Result<_, SourceError>>()?,
        ),
        SourceDiscovery::TypeInfo(_) => {
            let details = body.get("attributeDetails").and_then(Value::as_array);
            Discovered::Types(vec![TypeDetails {
                type_iri: name(&body, "typeName")?,
                entity_count: count(body.get("entityCount")),
                attributes: details
                    .into_iter()
                    .flatten()
                    .map(|a| Ok((name(a, "attributeName")?, kinds(a.get("attributeTypes")))))
                    .collect::<Result<_, SourceError>>()?,
            }])
        }
        SourceDiscovery::Attributes => Discovered::Attributes(
            names(body.get("attributeList"))
                .into_iter()
                .map(|attribute_iri| AttributeDetails {
                    attribute_iri,
                    ..AttributeDetails::default()
                })
                .collect(),
        ),
        SourceDiscovery::AttributeDetails => Discovered::Attributes(
            items(&body)?
                .iter()
                .map(|item| attribute(item, &name, &names, &kinds, &count))
                .collect::<Result<_, SourceError>>()?,
        ),
        SourceDiscovery::AttributeInfo(_) => {
            Discovered::Attributes(vec![attribute(&body, &name, &names, &kinds, &count)?])
        }
    })
}

/// An Attribute (5.2.28) as far as the source described it.
fn attribute(
    item: &Value,
    name: &dyn Fn(&Value, &str) -> Result<String, SourceError>,
    names: &dyn Fn(Option<&Value>) -> BTreeSet<String>,
    kinds: &dyn Fn(Option<&Value>) -> BTreeSet<&'static str>,
    count: &dyn Fn(Option<&Value>) -> usize,
) -> Result<AttributeDetails, SourceError> {
    Ok(AttributeDetails {
        attribute_iri: name(item, "attributeName")?,
        attribute_count: count(item.get("attributeCount")),
        attribute_types: kinds(item.get("attributeTypes")),
        type_names: names(item.get("typeNames")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rigel_model::IdentityTerms;
    use serde_json::json;

    use super::*;

    #[test]
    fn discovery_answers_read_back_as_types_and_attributes() {
        let info = json!({"typeName": "urn:t:Car", "entityCount": 3,
            "attributeDetails": [{"attributeName": "urn:a:speed", "attributeTypes": ["Property", "Odd"]}]});
        let Discovered::Types(types) = read(
            SourceDiscovery::TypeInfo("urn:t:Car"),
            Some(info),
            &IdentityTerms,
        )
        .unwrap() else {
            panic!("types expected")
        };
        assert_eq!(types[0].entity_count, 3);
        assert_eq!(
            types[0].attributes["urn:a:speed"],
            BTreeSet::from(["Property"])
        );
        let list = json!({"typeList": ["urn:t:Car", "urn:t:Bus"]});
        let Discovered::Types(types) =
            read(SourceDiscovery::Types, Some(list), &IdentityTerms).unwrap()
        else {
            panic!("types expected")
        };
        assert_eq!(types.len(), 2);
        let attributes = json!([{"attributeName": "urn:a:speed", "typeNames": ["urn:t:Car"]}]);
        let Discovered::Attributes(found) = read(
            SourceDiscovery::AttributeDetails,
            Some(attributes),
            &IdentityTerms,
        )
        .unwrap() else {
            panic!("attributes expected")
        };
        assert_eq!(
            found[0].type_names,
            BTreeSet::from(["urn:t:Car".to_owned()])
        );
        assert!(read(
            SourceDiscovery::TypeDetails,
            Some(json!({})),
            &IdentityTerms
        )
        .is_err());
        assert_eq!(
            read(
                SourceDiscovery::AttributeInfo("urn:a:x"),
                None,
                &IdentityTerms
            )
            .unwrap(),
            Discovered::Attributes(Vec::new())
        );
    }
}
