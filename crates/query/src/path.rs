//! Attribute paths (clause 4.9, production `ValuePath`): `name(.name)*([member(.member)*])?`,
//! parsed with every name expanded, and resolved to the target values of an entity.
//! Shared by q and orderBy.

use chrono::{DateTime, Utc};
use rigel_model::{Attribute, AttributeValue, Entity, TermMap};
use serde_json::{Map, Value};

use crate::limits::MAX_PATH_SEGMENTS;
use crate::scan::{is_name_char, is_name_start, Scanner};
use crate::QueryError;

/// The core vocabulary prefix: attribute members named by full IRI are recognised too.
pub(crate) const NGSI_LD: &str = "https://uri.etsi.org/ngsi-ld/";

/// The members of an attribute a path may address besides its sub-attributes (the names of
/// Table 5.2.5-1 that are not user sub-attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    ObservedAt,
    CreatedAt,
    ModifiedAt,
    UnitCode,
    DatasetId,
    ExpiresAt,
}

impl Member {
    const ALL: [(&'static str, Member); 6] = [
        ("observedAt", Member::ObservedAt),
        ("createdAt", Member::CreatedAt),
        ("modifiedAt", Member::ModifiedAt),
        ("unitCode", Member::UnitCode),
        ("datasetId", Member::DatasetId),
        ("expiresAt", Member::ExpiresAt),
    ];

    fn from_name(short: &str, expanded: &str) -> Option<Self> {
        let core = expanded.strip_prefix(NGSI_LD);
        Self::ALL
            .iter()
            .find(|(name, _)| *name == short || core == Some(name))
            .map(|(_, m)| *m)
    }
}

/// What a path starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A top-level attribute, by expanded IRI.
    Attribute(String),
    /// The entity's `createdAt`.
    CreatedAt,
    /// The entity's `modifiedAt`.
    ModifiedAt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A sub-attribute, by expanded IRI.
    Sub(String),
    /// A member of the attribute (always the last step).
    Member(Member),
}

/// One member name of a trailing `[...]` path into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub raw: String,
    /// The expanded name, when it differs and the attribute is not a `jsonKeys` one: stored
    /// values keep the member names the client wrote, so both spellings are looked up.
    pub expanded: Option<String>,
}

impl Key {
    fn is_any(&self) -> bool {
        self.raw == "*"
    }
}

/// A parsed attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePath {
    pub root: Root,
    pub steps: Vec<Step>,
    pub trailing: Option<Vec<Key>>,
}

/// Where a path ends within one attribute instance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A Property value, a JsonProperty or GeoProperty value, or a member inside one.
    Json(&'a Value),
    /// A ListProperty's valueList.
    List(&'a [Value]),
    /// A Relationship's object: a URI or an array of URIs.
    Object(&'a Value),
    /// A ListRelationship's objectList.
    ObjectList(&'a [String]),
    /// A VocabProperty's vocab (expanded IRIs).
    Vocab(&'a Value),
    /// A LanguageProperty's languageMap, restricted to one language or not.
    Language(&'a Map<String, Value>, Option<&'a str>),
    /// A system timestamp.
    Instant(DateTime<Utc>),
    /// A string member (observedAt, unitCode, datasetId, expiresAt).
    Text(&'a str),
}

/// Reads a name: a Unicode letter or `_`, then letters, numbers, `_` and `-`; with
/// `allow_colon`, also `prefix:name` compact IRIs.
pub(crate) fn read_name<'a>(
    sc: &mut Scanner<'a>,
    allow_colon: bool,
) -> Result<&'a str, QueryError> {
    let start = sc.pos();
    match sc.peek() {
        Some(c) if is_name_start(c) => {}
        _ => return Err(sc.error("expected an attribute name")),
    }
    loop {
        match sc.peek() {
            Some(c) if is_name_char(c) => {
                sc.bump();
            }
            Some(':') if allow_colon && sc.peek_second().is_some_and(is_name_start) => {
                sc.bump();
            }
            _ => break,
        }
    }
    Ok(sc.slice(start, sc.pos()))
}

/// Parses the rest of a value path whose first name has been read:
/// `(.name)*([key(.key)*])?`. `json_keys` lists the attributes whose values are raw JSON.
pub(crate) fn parse_value_path(
    sc: &mut Scanner<'_>,
    first: &str,
    terms: &dyn TermMap,
    json_keys: &[String],
) -> Result<ValuePath, QueryError> {
    let expanded = terms.expand(first);
    let core = expanded.strip_prefix(NGSI_LD);
    let root = if first == "createdAt" || core == Some("createdAt") {
        Root::CreatedAt
    } else if first == "modifiedAt" || core == Some("modifiedAt") {
        Root::ModifiedAt
    } else {
        Root::Attribute(expanded.into_owned())
    };
    let raw_json = matches!(&root, Root::Attribute(iri) if json_keys.contains(iri));
    let mut steps = Vec::new();
    let mut segments = 1;
    let mut closed_at = None;
    while sc.peek() == Some('.') && sc.peek_second() != Some('.') {
        sc.bump();
        let at = sc.pos();
        if let Some(name) = closed_at {
            return Err(sc.error_at(at, format!("{name} has no sub-attributes")));
        }
        if !matches!(root, Root::Attribute(_)) {
            return Err(sc.error_at(at, format!("the entity's {first} has no sub-attributes")));
        }
        let name = read_name(sc, true)?;
        segments += 1;
        if segments > MAX_PATH_SEGMENTS {
            return Err(too_long(sc));
        }
        let iri = terms.expand(name);
        match Member::from_name(name, &iri) {
            Some(m) => {
                closed_at = Some(name.to_owned());
                steps.push(Step::Member(m));
            }
            None => steps.push(Step::Sub(iri.into_owned())),
        }
    }
    let trailing = if sc.peek() == Some('[') {
        let open = sc.pos();
        sc.bump();
        if !matches!(root, Root::Attribute(_)) || closed_at.is_some() {
            return Err(sc.error_at(open, "a trailing [path] needs an attribute value"));
        }
        let mut keys = Vec::new();
        loop {
            let raw = read_key(sc)?;
            segments += 1;
            if segments > MAX_PATH_SEGMENTS {
                return Err(too_long(sc));
            }
            let expanded = (!raw_json && raw.starts_with(char::is_alphabetic))
                .then(|| terms.expand(raw))
                .filter(|e| *e != raw)
                .map(|e| e.into_owned());
            keys.push(Key {
                raw: raw.to_owned(),
                expanded,
            });
            if !sc.eat('.') {
                break;
            }
        }
        if !sc.eat(']') {
            return Err(sc.error("expected '.' or ']' in the trailing path"));
        }
        Some(keys)
    } else {
        None
    };
    Ok(ValuePath {
        root,
        steps,
        trailing,
    })
}

fn too_long(sc: &Scanner<'_>) -> QueryError {
    QueryError::too_complex(
        sc.language(),
        format!("an attribute path has more than {MAX_PATH_SEGMENTS} segments"),
    )
}

/// A member name inside `[...]`: name characters, `@`, `$`, `:`, or `*` (any language).
fn read_key<'a>(sc: &mut Scanner<'a>) -> Result<&'a str, QueryError> {
    if sc.starts_with("*") {
        let at = sc.pos();
        sc.bump();
        return Ok(sc.slice(at, sc.pos()));
    }
    let key = sc.take_while(|c| is_name_char(c) || matches!(c, '@' | '$' | ':'));
    if key.is_empty() {
        return Err(sc.error("expected a member name in the trailing path"));
    }
    Ok(key)
}

impl ValuePath {
    /// The top-level attribute IRI, if the path starts at one.
    pub(crate) fn attribute(&self) -> Option<&str> {
        match &self.root {
            Root::Attribute(iri) => Some(iri),
            _ => None,
        }
    }

    /// Calls `f` on the target of every attribute instance the path reaches, stopping at the
    /// first `true` (a multi-instance attribute matches if any instance does, clause 4.9).
    pub(crate) fn any_target(
        &self,
        entity: &Entity,
        f: &mut dyn FnMut(Target<'_>) -> bool,
    ) -> bool {
        match &self.root {
            Root::CreatedAt => f(Target::Instant(entity.created_at)),
            Root::ModifiedAt => f(Target::Instant(entity.modified_at)),
            Root::Attribute(iri) => entity
                .instances(iri)
                .iter()
                .filter_map(|a| self.target_in(a))
                .any(f),
        }
    }

    /// The target used to order by this path: the default instance's, else the first one's.
    pub(crate) fn sort_target<'a>(&self, entity: &'a Entity) -> Option<Target<'a>> {
        match &self.root {
            Root::CreatedAt => Some(Target::Instant(entity.created_at)),
            Root::ModifiedAt => Some(Target::Instant(entity.modified_at)),
            Root::Attribute(iri) => {
                let instances = entity.instances(iri);
                instances
                    .iter()
                    .find(|a| a.dataset_id.is_none())
                    .and_then(|a| self.target_in(a))
                    .or_else(|| instances.iter().find_map(|a| self.target_in(a)))
            }
        }
    }

    /// The target within one instance of the root attribute.
    fn target_in<'a>(&self, instance: &'a Attribute) -> Option<Target<'a>> {
        let mut current = instance;
        for step in &self.steps {
            match step {
                Step::Sub(iri) => current = current.sub_attributes.get(iri)?,
                Step::Member(m) => return member(current, *m),
            }
        }
        let base = match &current.value {
            AttributeValue::Property(v) | AttributeValue::GeoProperty(v) => Target::Json(v),
            AttributeValue::JsonProperty(v) => Target::Json(v),
            AttributeValue::ListProperty(vs) => Target::List(vs),
            AttributeValue::Relationship { object, .. } => Target::Object(object),
            AttributeValue::ListRelationship { object_list, .. } => Target::ObjectList(object_list),
            AttributeValue::VocabProperty(v) => Target::Vocab(v),
            AttributeValue::LanguageProperty(map) => Target::Language(map, None),
        };
        let raw_only = matches!(current.value, AttributeValue::JsonProperty(_));
        match &self.trailing {
            None => Some(base),
            Some(keys) => descend(base, keys, raw_only),
        }
    }
}

fn member(attribute: &Attribute, m: Member) -> Option<Target<'_>> {
    match m {
        Member::ObservedAt => attribute.observed_at.as_deref().map(Target::Text),
        Member::UnitCode => attribute.unit_code.as_deref().map(Target::Text),
        Member::DatasetId => attribute.dataset_id.as_deref().map(Target::Text),
        Member::ExpiresAt => attribute.expires_at.as_deref().map(Target::Text),
        Member::CreatedAt => attribute.created_at.map(Target::Instant),
        Member::ModifiedAt => attribute.modified_at.map(Target::Instant),
    }
}

/// Applies a trailing path: ECMAScript member access in dot notation (clause 4.9), numeric
/// members indexing arrays; on a LanguageProperty the one member is a language tag (`*`: any).
/// JsonProperty values are raw JSON, so their members are looked up as written only.
fn descend<'a>(base: Target<'a>, keys: &[Key], raw_only: bool) -> Option<Target<'a>> {
    let (first, rest) = keys.split_first()?;
    let mut current = match base {
        Target::Json(v) => json_member(v, first, raw_only)?,
        Target::List(vs) => vs.get(first.raw.parse::<usize>().ok()?)?,
        Target::Language(map, _) if rest.is_empty() => {
            if first.is_any() {
                return Some(Target::Language(map, None));
            }
            let (tag, _) = map.get_key_value(first.raw.as_str())?;
            return Some(Target::Language(map, Some(tag)));
        }
        _ => return None,
    };
    for key in rest {
        current = json_member(current, key, raw_only)?;
    }
    Some(Target::Json(current))
}

fn json_member<'a>(value: &'a Value, key: &Key, raw_only: bool) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(key.raw.as_str()).or_else(|| {
            if raw_only {
                None
            } else {
                key.expanded.as_deref().and_then(|e| map.get(e))
            }
        }),
        Value::Array(items) => items.get(key.raw.parse::<usize>().ok()?),
        _ => None,
    }
}
