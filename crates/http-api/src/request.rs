//! Request plumbing shared by handlers: body reading under limits, tenant, query parameters.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures::StreamExt;
use rigel_model::Tenant;
use serde_json::Value;

use crate::{ApiError, Limits};

/// Reads a JSON body of at most `limits.max_body_bytes` (413 beyond it), arriving within
/// `limits.body_timeout` (408 beyond it, so a client trickling its body cannot hold a
/// connection), and parses it; serde_json's recursion limit bounds nesting, so no input can
/// exhaust the stack.
pub async fn read_json(mut payload: web::Payload, limits: &Limits) -> Result<Value, ApiError> {
    let limit = limits.max_body_bytes;
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let mut body = web::BytesMut::new();
    loop {
        let next = tokio::time::timeout_at(deadline, payload.next())
            .await
            .map_err(|_| ApiError::BodyTimeout(limits.body_timeout))?;
        let Some(chunk) = next else {
            break;
        };
        let chunk = chunk
            .map_err(|e| ApiError::bad_data(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::invalid_request("the request body is empty"));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid_request(format!("the request body is not valid JSON: {e}")))
}

/// The tenant of a request: `NGSILD-Tenant`, or its synonym `Fiware-Service`; both present
/// and different is a `BadRequestData`.
pub fn tenant(req: &HttpRequest) -> Result<Tenant, ApiError> {
    let get = |name: &str| -> Result<Option<&str>, ApiError> {
        req.headers()
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::bad_data(format!("the {name} header is not valid text")))
            })
            .transpose()
    };
    let ngsild = get("NGSILD-Tenant")?;
    let fiware = get("Fiware-Service")?;
    let name = match (ngsild, fiware) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_data(
                "NGSILD-Tenant and Fiware-Service name different tenants",
            ))
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => "",
    };
    Ok(Tenant::named(name)?)
}

/// Parsed query parameters, checked against what the operation accepts.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses the query string; a parameter outside `allowed` is an `InvalidRequest`
    /// (clause 6.3.20), a repeated one a `BadRequestData`.
    pub fn parse(req: &HttpRequest, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
            .map_err(|e| ApiError::bad_data(format!("the query string is malformed: {e}")))?;
        if allowed.contains(&"count") {
            count_option_as_flag(&mut pairs);
        }
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::invalid_request(format!(
                    "unknown query parameter {name:?}"
                )));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad_data(format!(
                    "query parameter {name:?} is given twice"
                )));
            }
        }
        Ok(Self { pairs })
    }

    /// Parameters built by the server itself (e.g. from a request body), unchecked.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated list parameter; an empty item is a `BadRequestData`.
    pub fn list(&self, name: &str) -> Result<Option<Vec<&str>>, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let items: Vec<&str> = v.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(ApiError::bad_data(format!(
                "query parameter {name:?} has an empty item"
            )));
        }
        Ok(Some(items))
    }

    /// A boolean parameter (`true`/`false`).
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::bad_data(format!(
                "query parameter {name:?} must be true or false, not {other:?}"
            ))),
        }
    }
}

/// `options=count`, an older spelling of `count=true` that clients still send: the `count`
/// item leaves `options` (which disappears if nothing else is in it) and `count=true` is set.
fn count_option_as_flag(pairs: &mut Vec<(String, String)>) {
    let Some(i) = pairs.iter().position(|(n, _)| n == "options") else {
        return;
    };
    let items: Vec<&str> = pairs[i].1.split(',').collect();
    if !items.iter().any(|o| o.trim() == "count") {
        return;
    }
    let rest = items
        .into_iter()
        .filter(|o| o.trim() != "count")
        .collect::<Vec<_>>()
        .join(",");
    if rest.is_empty() {
        pairs.remove(i);
    } else {
        pairs[i].1 = rest;
    }
    match pairs.iter_mut().find(|(n, _)| n == "count") {
        Some((_, v)) => *v = "true".to_owned(),
        None => pairs.push(("count".to_owned(), "true".to_owned())),
    }
}

/// Whether the request declares a body length (clause 6.3.4 requires Content-Length).
pub fn has_declared_length(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
}

/// A resource id taken from a path (a subscription's, a registration's), which must be a
/// URI; `what` names it in the error.
pub fn uri_segment<'a>(raw: &'a str, what: &str) -> Result<&'a str, ApiError> {
    if raw.is_empty() || !rigel_model::validate::is_uri(raw) {
        return Err(ApiError::bad_data(format!(
            "the {what} id {raw:?} is not a URI"
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::count_option_as_flag;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn options_count_becomes_the_count_flag() {
        let mut p = pairs(&[("type", "Room"), ("options", "count")]);
        count_option_as_flag(&mut p);
        assert_eq!(p, pairs(&[("type", "Room"), ("count", "true")]));
    }

    #[test]
    fn options_count_keeps_the_other_options() {
        let mut p = pairs(&[("options", "keyValues,count,sysAttrs"), ("count", "false")]);
        count_option_as_flag(&mut p);
        assert_eq!(
            p,
            pairs(&[("options", "keyValues,sysAttrs"), ("count", "true")])
        );
    }

    #[test]
    fn options_without_count_are_untouched() {
        let mut p = pairs(&[("options", "keyValues")]);
        count_option_as_flag(&mut p);
        assert_eq!(p, pairs(&[("options", "keyValues")]));
    }
}
