//! The query parameters that select entities (clauses 4.9, 4.10, 4.17, 4.19, 5.7.2.4,
//! 6.4.3.2): ids, idPattern, type, attrs, q, geoQ, scopeQ, local; and paging (6.3.10,
//! 6.3.13). Shared by Query Entities (GET and POST) and Purge Entities.

use rigel_broker::query::{EntityQuery, EntitySelector, Paging};
use rigel_model::validate::{is_uri, is_valid_name};
use rigel_model::{ErrorKind, ModelError, TermMap};
use rigel_query::q::QOptions;
use rigel_query::{GeoQuery, IdPattern, QExpr, QueryError, ScopeExpr, TypeExpr};
use serde_json::Value;

use crate::request::Params;
use crate::{ApiError, Limits};

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self::Model(ModelError::new(e.kind(), e.to_string()))
    }
}

/// Entity members that are not attributes: a list of only these restricts nothing.
const SYSTEM_MEMBERS: &[&str] = &[
    "id",
    "type",
    "scope",
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "@id",
    "@type",
];

/// The default geoproperty of a geoquery (clause 4.10).
const DEFAULT_GEOPROPERTY: &str = "location";

/// A parsed selection of entities.
pub struct Filters {
    pub query: EntityQuery,
    /// `local=true`, or implied by `type=*`.
    pub local: bool,
}

impl Filters {
    /// Checks the "too wide query" rule of clause 5.7.2.4.
    pub fn require_restriction(&self) -> Result<(), ApiError> {
        if self.local || self.query.is_restricted() {
            Ok(())
        } else {
            Err(ApiError::bad_data(
                "the query needs at least one of type, attrs, q or a geoquery (or local=true)",
            ))
        }
    }
}

/// One entity selector from an id list, an id pattern and a type selection.
pub fn selector(
    ids: Option<Vec<&str>>,
    id_pattern: Option<&str>,
    types: Option<&str>,
    terms: &dyn TermMap,
) -> Result<(Option<EntitySelector>, bool), ApiError> {
    let ids = ids
        .map(|ids| {
            ids.into_iter()
                .map(|id| {
                    if is_uri(id) {
                        Ok(id.to_owned())
                    } else {
                        Err(ApiError::bad_data(format!("entity id {id:?} is not a URI")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let id_pattern = id_pattern.map(IdPattern::parse).transpose()?;
    let mut all_types = false;
    let types = match types.map(str::trim) {
        Some("*") => {
            all_types = true;
            None
        }
        Some("") => return Err(ApiError::bad_data("the type selection is empty")),
        Some(t) => Some(TypeExpr::parse(t, terms)?),
        None => None,
    };
    if ids.is_none() && id_pattern.is_none() && types.is_none() {
        return Ok((None, all_types));
    }
    Ok((
        Some(EntitySelector {
            ids,
            id_pattern,
            types,
        }),
        all_types,
    ))
}

/// Expands a list of attribute names, each of which must be a valid name.
pub fn attribute_names(names: &[&str], terms: &dyn TermMap) -> Result<Vec<String>, ApiError> {
    names
        .iter()
        .map(|n| {
            if is_valid_name(n) {
                Ok(terms.expand(n).into_owned())
            } else {
                Err(ApiError::bad_data(format!(
                    "{n:?} is not a valid attribute name"
                )))
            }
        })
        .collect()
}

/// A geoquery from its parts; all of georel, geometry and coordinates or none.
pub fn geo_query(
    georel: Option<&str>,
    geometry: Option<&str>,
    coordinates: Option<&Value>,
    geoproperty: Option<&str>,
    terms: &dyn TermMap,
) -> Result<Option<GeoQuery>, ApiError> {
    match (georel, geometry, coordinates) {
        (None, None, None) => Ok(None),
        (Some(georel), Some(geometry), Some(coordinates)) => {
            let property = geoproperty.unwrap_or(DEFAULT_GEOPROPERTY);
            if !is_valid_name(property) {
                return Err(ApiError::bad_data(format!(
                    "geoproperty {property:?} is not a valid attribute name"
                )));
            }
            let property = terms.expand(property);
            let query = match coordinates {
                Value::String(text) => GeoQuery::parse(georel, geometry, text, &property)?,
                other => GeoQuery::from_parts(georel, geometry, other, &property)?,
            };
            Ok(Some(query))
        }
        _ => Err(ApiError::bad_data(
            "a geoquery needs georel, geometry and coordinates together",
        )),
    }
}

/// The geoquery of a request's `georel`, `geometry`, `coordinates` and `geoproperty`.
pub fn geo_params(params: &Params, terms: &dyn TermMap) -> Result<Option<GeoQuery>, ApiError> {
    let coordinates = params.get("coordinates").map(|c| Value::String(c.into()));
    geo_query(
        params.get("georel"),
        params.get("geometry"),
        coordinates.as_ref(),
        params.get("geoproperty"),
        terms,
    )
}

/// `options=sysAttrs` for a representation that knows no other option (subscriptions,
/// registrations); the entity representation options are accepted and mean nothing here.
pub fn sys_attrs_option(params: &Params) -> Result<bool, ApiError> {
    let mut sys = false;
    for o in params.list("options")?.unwrap_or_default() {
        match o {
            "sysAttrs" => sys = true,
            "normalized" | "concise" | "keyValues" | "simplified" => {}
            other => return Err(ApiError::bad_data(format!("unknown option {other:?}"))),
        }
    }
    Ok(sys)
}

/// Adds the `NGSILD-Results-Count` header (when counted) and the `Link` headers of the
/// previous and next pages (6.3.10) to the answer of a paged query of `path`: the page
/// showed `shown` of `total` items; `query` is the request's query string, kept apart from
/// `limit` and `offset`.
pub fn page_headers(
    response: &mut actix_web::HttpResponse,
    paging: &Paging,
    (shown, total): (usize, usize),
    path: &str,
    query: &str,
    content_type: &str,
) {
    use actix_web::http::header::{self, HeaderName, HeaderValue};
    if paging.count {
        if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("ngsild-results-count"), v);
        }
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("offset=") && !p.starts_with("limit="))
        .collect();
    let mut rest = kept.join("&");
    if !rest.is_empty() {
        rest.push('&');
    }
    let link = |offset: usize, rel: &str| {
        format!(
            "<{path}?{rest}limit={}&offset={offset}>;rel=\"{rel}\";type=\"{content_type}\"",
            paging.limit
        )
    };
    let mut links = Vec::new();
    if paging.offset > 0 && paging.limit > 0 {
        links.push(link(paging.offset.saturating_sub(paging.limit), "prev"));
    }
    if paging.limit > 0 && paging.offset + shown < total {
        links.push(link(paging.offset + paging.limit, "next"));
    }
    for l in links {
        if let Ok(v) = HeaderValue::from_str(&l) {
            response.headers_mut().append(header::LINK, v);
        }
    }
}

/// The selection parameters of a GET (or DELETE) on /entities.
pub fn from_params(params: &Params, terms: &dyn TermMap) -> Result<Filters, ApiError> {
    let (selector, all_types) = selector(
        params.list("id")?,
        params.get("idPattern"),
        params.get("type"),
        terms,
    )?;
    let local = params.flag("local")? || all_types;
    if all_types && params.get("local") == Some("false") {
        return Err(ApiError::bad_data("type=* implies local=true"));
    }
    // Clause 5.7.2.4: attrs restricts a query only with a non-system attribute in it.
    let attrs = params
        .list("attrs")?
        .map(|names| -> Result<Option<Vec<String>>, ApiError> {
            let names: Vec<&str> = names
                .into_iter()
                .filter(|n| !SYSTEM_MEMBERS.contains(n))
                .collect();
            if names.is_empty() {
                return Ok(None);
            }
            attribute_names(&names, terms).map(Some)
        })
        .transpose()?
        .flatten();
    let projected = params
        .get("pick")
        .map(crate::projection::parse_members)
        .transpose()?
        // An entity matches a projection when something of it would be shown: any entity
        // when an entity member (id, type, ...) is picked, else one with a picked attribute.
        .filter(|members| {
            !members
                .iter()
                .any(|m| SYSTEM_MEMBERS.contains(&m.name.as_str()))
        })
        .map(|members| {
            members
                .iter()
                .map(|m| terms.expand(&m.name).into_owned())
                .collect::<Vec<_>>()
        });
    let expand_values = params
        .list("expandValues")?
        .map(|names| attribute_names(&names, terms))
        .transpose()?
        .unwrap_or_default();
    let json_keys = params
        .list("jsonKeys")?
        .map(|names| attribute_names(&names, terms))
        .transpose()?
        .unwrap_or_default();
    let q = params
        .get("q")
        .map(|q| {
            QExpr::parse(
                q,
                terms,
                &QOptions {
                    expand_values: &expand_values,
                    json_keys: &json_keys,
                },
            )
        })
        .transpose()?;
    let geo = geo_params(params, terms)?;
    let scope = params.get("scopeQ").map(ScopeExpr::parse).transpose()?;
    if params.get("csf").is_some() {
        return Err(ApiError::not_supported(
            "context source filters (csf) need context source registrations, which are not supported yet",
        ));
    }
    Ok(Filters {
        query: EntityQuery {
            selectors: selector.into_iter().collect(),
            attrs,
            projected,
            q,
            geo,
            scope,
        },
        local,
    })
}

/// `limit`, `offset` and `count` (clauses 6.3.10, 6.3.13).
pub fn paging(params: &Params, limits: &Limits) -> Result<Paging, ApiError> {
    let number = |name: &str| -> Result<Option<usize>, ApiError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    ApiError::bad_data(format!(
                        "{name} must be a whole number of 0 or more, not {v:?}"
                    ))
                })
            })
            .transpose()
    };
    let count = params.flag("count")?;
    let limit = number("limit")?.unwrap_or(limits.default_page_size);
    let offset = number("offset")?.unwrap_or(0);
    if limit == 0 && !count {
        return Err(ApiError::bad_data(
            "limit=0 is only allowed with count=true",
        ));
    }
    if limit > limits.max_page_size {
        return Err(ApiError::Model(ModelError::new(
            ErrorKind::TooManyResults,
            format!(
                "limit {limit} is above the maximum page size of {}",
                limits.max_page_size
            ),
        )));
    }
    Ok(Paging {
        offset,
        limit,
        count,
    })
}
