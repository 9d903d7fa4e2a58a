//! The built-in NGSI-LD core @context: its document, the URLs that alias it, and its
//! processed form (computed once per process).

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context as TaskContext, Poll, Waker};

use json_ld::context_processing::{Options, Process};
use json_ld::syntax::{Parse, TryFromJson};
use serde_json::Value;

use crate::error::JsonLdError;
use crate::sanitize::strip_scoped_contexts;
use crate::tables::Tables;

/// The URL of the core @context this broker implements (V1.9).
pub const CORE_CONTEXT_URL: &str =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";

/// The published V1.9 core @context. This is ETSI's published `-v1.9.jsonld` file (the one
/// the conformance suite serves), not a transcription of Annex B: Annex B of V1.9.1 lacks
/// terms the V1.9.1 clauses use (`EntityMap`, `entityMapLifetime`, `jsonldContext`, `lastN`,
/// `ngsildConformance`, `splitEntities`), maps `attributeCount`/`attributeDetails` to the
/// default vocabulary instead of `ngsi-ld:`, and lacks `@container: @index` on `entityMap`.
/// Every other term is identical.
const CORE_CONTEXT_TEXT: &str = include_str!("ngsi-ld-core-context-v1.9.jsonld");

const CORE_HOST: &str = "uri.etsi.org";
const CORE_FILE_STEM: &str = "ngsi-ld-core-context";

/// True when `url` names a published version of the NGSI-LD core @context:
/// `http(s)://uri.etsi.org/ngsi-ld[/v1]/ngsi-ld-core-context[-vN.M[.P]].jsonld`.
/// Such URLs are never fetched: they all resolve to the built-in core context (a client
/// naming an older version gets the current core; the core only ever grows).
/// Anything else on that host (e.g. `ngsi-ld-core-context-non-existing.jsonld`) is a
/// normal remote URL.
pub fn is_core_context_url(url: &str) -> bool {
    let rest = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"));
    let Some(rest) = rest else { return false };
    let Some(path) = strip_prefix_ignore_case(rest, CORE_HOST) else {
        return false;
    };
    let file = path
        .strip_prefix("/ngsi-ld/v1/")
        .or_else(|| path.strip_prefix("/ngsi-ld/"));
    let Some(name) = file.and_then(|f| f.strip_prefix(CORE_FILE_STEM)) else {
        return false;
    };
    let Some(version) = name.strip_suffix(".jsonld") else {
        return false;
    };
    if version.is_empty() {
        return true;
    }
    let Some(version) = version.strip_prefix("-v") else {
        return false;
    };
    let is_number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (2..=3).contains(&version.split('.').count()) && version.split('.').all(is_number)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The core @context document (`{"@context": {...}}`) built into the binary.
pub fn core_context() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    // The text is a compile-time constant checked by a test, so the fallback never happens.
    DOCUMENT.get_or_init(|| serde_json::from_str(CORE_CONTEXT_TEXT).unwrap_or(Value::Null))
}

/// The core context processed by json-ld, and the lookup tables derived from it.
pub(crate) struct CoreData {
    pub(crate) tables: Tables,
    /// The core's `@vocab`. The core is applied last, so it is every context's vocabulary.
    pub(crate) vocab: String,
    /// The processed core with its `@protected` flag dropped: the initial active context
    /// user contexts are processed on top of. Core precedence is applied afterwards (core
    /// terms shadow user terms), so a user context may "redefine" a core term without
    /// failing; the redefinition is simply ignored, as clause 5.5.7 asks.
    pub(crate) active: json_ld::Context,
}

static CORE_DATA: OnceLock<CoreData> = OnceLock::new();

/// The processed core context; computed on first use.
pub(crate) fn core_data() -> Result<&'static CoreData, JsonLdError> {
    if let Some(data) = CORE_DATA.get() {
        return Ok(data);
    }
    let built = build_core_data()?;
    // A concurrent first call may have won the race; either value is identical.
    let _ = CORE_DATA.set(built);
    CORE_DATA
        .get()
        .ok_or_else(|| JsonLdError::Internal("core context not initialised".into()))
}

fn build_core_data() -> Result<CoreData, JsonLdError> {
    let internal = |what: &str| JsonLdError::Internal(format!("built-in core context: {what}"));
    let mut context = core_context()
        .get("@context")
        .cloned()
        .ok_or_else(|| internal("no @context member"))?;
    if let Value::Object(map) = &mut context {
        map.remove("@protected");
    }
    // Its only scoped context (`ngsildproof`) names a remote W3C context; scoped contexts do
    // not affect top-level terms, and fetching it would make startup depend on the network.
    strip_scoped_contexts(&mut context);
    let text = serde_json::to_string(&context).map_err(|e| internal(&e.to_string()))?;
    let (json, _) =
        json_ld::syntax::Value::parse_str(&text).map_err(|e| internal(&e.to_string()))?;
    let local = json_ld::syntax::context::Context::try_from_json(json)
        .map_err(|e| internal(&e.to_string()))?;
    let initial = json_ld::Context::default();
    let mut vocabulary = ();
    let processing = local.process_full(
        &mut vocabulary,
        &initial,
        &json_ld::NoLoader,
        None,
        Options::default(),
        (),
    );
    let active = poll_ready(processing)
        .ok_or_else(|| internal("processing did not complete"))?
        .map_err(|e| internal(&e.to_string()))?
        .into_processed();
    let vocab = active
        .vocabulary()
        .and_then(|term| term.as_iri())
        .map(|iri| iri.as_str().to_owned())
        .ok_or_else(|| internal("no @vocab"))?;
    let tables = Tables::from_context(&active, |_| false, |_| false);
    Ok(CoreData {
        tables,
        vocab,
        active,
    })
}

/// Polls a future that needs no I/O (json-ld with a loader that is never called) once.
fn poll_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
