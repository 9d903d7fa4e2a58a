//! What every write on one entity starts with: its query parameters, entity id, tenant,
//! JSON body and resolved @context, read in the order the spec's errors require.

use actix_web::{web, HttpRequest};
use rigel_model::{Tenant, TermMap};
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::request::{tenant, Params};
use crate::routes::entities::{check_body_id, entity_id, object_body, type_filter};
use crate::{ApiError, AppState};

/// A parsed write request on the entity `id`.
pub(crate) struct EntityWrite {
    pub params: Params,
    pub id: String,
    pub tenant: Tenant,
    /// The body without its `@context` member (already applied through `ctx`).
    pub body: Map<String, Value>,
    pub ctx: RequestContext,
}

impl EntityWrite {
    /// Checks parameters against `allowed`, the path's entity id, the tenant, then reads the
    /// body and resolves its @context. A body `id`, if any, must be the path's.
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        state: &AppState,
        raw_id: &str,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let params = Params::parse(req, allowed)?;
        let id = entity_id(raw_id)?.to_owned();
        let tenant = tenant(req)?;
        let (mut body, ctx) = object_body(req, payload, state).await?;
        check_body_id(&body, &id)?;
        body.remove("@context");
        Ok(Self {
            params,
            id,
            tenant,
            body,
            ctx,
        })
    }

    pub fn terms(&self) -> &dyn TermMap {
        self.ctx.terms.as_ref()
    }

    /// Where the write goes, for forwarding it to context sources.
    pub fn target<'a>(
        &'a self,
        types: Option<&'a [String]>,
    ) -> crate::routes::distributed_write::Target<'a> {
        crate::routes::distributed_write::Target {
            tenant: &self.tenant,
            id: &self.id,
            types,
            params: &self.params,
            ctx: &self.ctx,
        }
    }

    /// The operation's `type` selector, expanded.
    pub fn types(&self) -> Result<Option<Vec<String>>, ApiError> {
        type_filter(&self.params, self.terms())
    }
}
