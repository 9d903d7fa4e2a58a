//! Ingestion rules: what a client writes (`RuleSpec`, JSON) and the checked form the
//! ingestion runs (`Rule`). A rule names an MQTT broker and a topic filter, how the entity
//! id and type are built, which payload fields become which attributes, which field is
//! the observation time, the tenant, and the checks a message must pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::broker_url::BrokerUrl;
use crate::check::FieldCheck;
use crate::template::{parse_path, Template};
use crate::topic::TopicFilter;

/// A rule as written (`docs/ingestion.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    /// The rule's name: letters, digits, `-`, `_`, `.`, `:`.
    pub id: String,
    /// `mqtt[s]://[user[:password]@]host[:port]`.
    pub broker: String,
    /// The topic filter subscribed to (`+` and `#` allowed).
    pub topic: String,
    /// 0, 1 or 2; default 1.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// `"5"` (default) or `"3.1.1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt_version: Option<String>,
    /// The tenant written to; none: the default tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `"fields"` (default): a JSON object mapped by `entity` and `attributes`;
    /// `"ngsi-ld"`: an NGSI-LD entity (or array of them) written as it is.
    #[serde(default)]
    pub payload: PayloadKind,
    /// The entity's id and type templates (required for `"fields"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntitySpec>,
    /// The payload field holding the observation time (an ISO 8601 date-time), set as the
    /// `observedAt` of every mapped attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// Attribute name (a term of the rule's @context) → where its value comes from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttributeSpec>,
    /// Payload fields (dotted paths) that must be present and not null.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Checks of payload fields (dotted path → check), applied when the field is present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldCheck>,
    /// Where rejected messages are republished, with the reason; none: only counted and
    /// logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// The @context the attribute names (and ngsi-ld payloads) are expanded with; none:
    /// the core @context.
    #[serde(default, rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// An MQTT shared subscription group (`$share/<group>/<topic>`): brokers subscribed in
    /// one group share the messages, each delivered to one of them. Several Rigel replicas
    /// over one store use it so that a message is written once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_group: Option<String>,
}

fn default_qos() -> u8 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PayloadKind {
    #[default]
    #[serde(rename = "fields")]
    Fields,
    #[serde(rename = "ngsi-ld")]
    NgsiLd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// Template of the entity id (a URI once rendered).
    pub id: String,
    /// Template of the entity type.
    #[serde(rename = "type")]
    pub type_: String,
}

/// Where one attribute's value comes from: a payload `field`, or a `value` template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Property (default), Relationship or GeoProperty.
    #[serde(default)]
    pub kind: AttributeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AttributeKind {
    #[default]
    Property,
    Relationship,
    GeoProperty,
}

impl AttributeKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Property => "Property",
            Self::Relationship => "Relationship",
            Self::GeoProperty => "GeoProperty",
        }
    }
}

/// Where one attribute's value comes from, checked.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A payload field, taken as it is (any JSON).
    Field(Vec<String>),
    /// A template rendered to a string.
    Template(Template),
}

#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    pub name: String,
    pub source: Source,
    pub kind: AttributeKind,
    pub unit_code: Option<String>,
}

/// The MQTT quality of service a rule subscribes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub broker: BrokerUrl,
    pub filter: TopicFilter,
    /// What is subscribed to: the filter, or `$share/<group>/<filter>`.
    pub subscription: String,
    pub qos: Qos,
    pub(crate) id_template: Option<Template>,
    pub(crate) type_template: Option<Template>,
    pub(crate) observed_at: Option<Vec<String>>,
    pub(crate) attributes: Vec<Mapped>,
    pub(crate) required: Vec<Vec<String>>,
    pub(crate) checks: Vec<(Vec<String>, FieldCheck)>,
    /// The tenant written to (`spec.tenant`, checked).
    pub tenant: rigel_model::Tenant,
}

impl Rule {
    /// Checks a rule; the error says what is wrong with it.
    pub fn new(spec: RuleSpec) -> Result<Self, String> {
        if spec.id.is_empty()
            || spec.id.len() > 256
            || !spec
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(format!(
                "rule id {:?} must be 1 to 256 letters, digits, '-', '_', '.' or ':'",
                spec.id
            ));
        }
        let broker = BrokerUrl::parse(&spec.broker, spec.mqtt_version.as_deref())?;
        let filter = TopicFilter::parse(&spec.topic)?;
        let qos = match spec.qos {
            0 => Qos::AtMostOnce,
            1 => Qos::AtLeastOnce,
            2 => Qos::ExactlyOnce,
            n => return Err(format!("qos {n} is not 0, 1 or 2")),
        };
        let (id_template, type_template) = match (&spec.payload, &spec.entity) {
            (PayloadKind::Fields, Some(e)) => (
                Some(Template::parse(&e.id)?),
                Some(Template::parse(&e.type_)?),
            ),
            (PayloadKind::Fields, None) => {
                return Err("a rule for \"fields\" payloads needs \"entity\" (id and type)".into())
            }
            (PayloadKind::NgsiLd, Some(_)) => {
                return Err(
                    "a rule for \"ngsi-ld\" payloads takes the entity as sent: no \"entity\""
                        .into(),
                )
            }
            (PayloadKind::NgsiLd, None) => (None, None),
        };
        if spec.payload == PayloadKind::NgsiLd && !spec.attributes.is_empty() {
            return Err("a rule for \"ngsi-ld\" payloads maps no \"attributes\"".into());
        }
        let attributes = spec
            .attributes
            .iter()
            .map(|(name, a)| mapped(name, a))
            .collect::<Result<Vec<_>, _>>()?;
        let observed_at = spec.observed_at.as_deref().map(parse_path).transpose()?;
        let required = spec
            .required
            .iter()
            .map(|p| parse_path(p))
            .collect::<Result<Vec<_>, _>>()?;
        let checks = spec
            .fields
            .iter()
            .map(|(p, c)| Ok((parse_path(p)?, c.checked(p)?)))
            .collect::<Result<Vec<_>, String>>()?;
        if let Some(t) = &spec.dead_letter_topic {
            if t.is_empty() || t.contains(['+', '#', '\0']) {
                return Err(format!(
                    "dead letter topic {t:?} must be a topic name without wildcards"
                ));
            }
        }
        let tenant = match spec.tenant.as_deref() {
            None => rigel_model::Tenant::default(),
            Some(t) => rigel_model::Tenant::named(t)
                .map_err(|_| format!("tenant {:?} is not a valid tenant name", spec.tenant))?,
        };
        let subscription = subscription(&filter, spec.share_group.as_deref())?;
        Ok(Self {
            broker,
            filter,
            subscription,
            qos,
            id_template,
            type_template,
            observed_at,
            attributes,
            required,
            checks,
            tenant,
            spec,
        })
    }

    /// The rule in the shared subscription group `group` (the rest of it already checked).
    pub fn with_share_group(mut self, group: &str) -> Result<Self, String> {
        self.subscription = subscription(&self.filter, Some(group))?;
        self.spec.share_group = Some(group.to_owned());
        Ok(self)
    }
}

/// What a rule subscribes to: its filter, or `$share/<group>/<filter>` in a group.
fn subscription(filter: &TopicFilter, group: Option<&str>) -> Result<String, String> {
    match group {
        None => Ok(filter.as_str().to_owned()),
        Some(g) if g.is_empty() || g.len() > 128 || g.contains(['/', '+', '#', '\0']) => Err(
            format!("share group {g:?} must be 1 to 128 characters without '/', '+' or '#'"),
        ),
        Some(g) => Ok(format!("$share/{g}/{}", filter.as_str())),
    }
}

fn mapped(name: &str, a: &AttributeSpec) -> Result<Mapped, String> {
    if !rigel_model::validate::is_valid_name(name) {
        return Err(format!("{name:?} is not a valid attribute name"));
    }
    if ["id", "type", "@context", "scope", "createdAt", "modifiedAt"].contains(&name) {
        return Err(format!("{name:?} cannot be mapped as an attribute"));
    }
    let source = match (&a.field, &a.value) {
        (Some(field), None) => Source::Field(parse_path(field)?),
        (None, Some(value)) => Source::Template(Template::parse(value)?),
        _ => {
            return Err(format!(
                "attribute {name:?} needs exactly one of \"field\" and \"value\""
            ))
        }
    };
    if a.unit_code.is_some() && a.kind != AttributeKind::Property {
        return Err(format!(
            "attribute {name:?}: only a Property has a unitCode"
        ));
    }
    Ok(Mapped {
        name: name.to_owned(),
        source,
        kind: a.kind,
        unit_code: a.unit_code.clone(),
    })
}
