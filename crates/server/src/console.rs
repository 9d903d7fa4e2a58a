//! The web console at `/console` (`docs/console.md`, crate `rigel-console`): its files with
//! validators and a content security policy that lets the pages reach this broker only (and
//! the tile server, when one is configured), and `config.json` with the map settings. Static
//! files: authentication, when on, applies to the API calls the pages make.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rigel_http_api::ApiError;
use rigel_model::ModelError;

/// What the console is told at start.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// A tile URL template (`https://tile.example/{z}/{x}/{y}.png`); none draws the map on a
    /// plain background.
    pub tiles: Option<String>,
    pub tiles_attribution: Option<String>,
}

/// The console as every HTTP worker serves it: its settings and their security policy.
pub struct Mounted {
    settings: ConsoleSettings,
    policy: String,
}

impl Mounted {
    pub fn new(settings: ConsoleSettings) -> web::Data<Self> {
        let policy = content_security_policy(settings.tiles.as_deref());
        web::Data::new(Self { settings, policy })
    }
}

/// Mounts `/console` (when the console is on).
pub fn configure(mounted: web::Data<Mounted>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(mounted)
            // `/console/` arrives here too: the edge drops trailing slashes before routing.
            .route("/console", web::get().to(first_page))
            .route("/console/config.json", web::get().to(config))
            .route("/console/{file:.*}", web::get().to(file));
    }
}

async fn first_page(
    req: HttpRequest,
    mounted: web::Data<Mounted>,
) -> Result<HttpResponse, ApiError> {
    file(req, web::Path::from(String::new()), mounted).await
}

async fn config(mounted: web::Data<Mounted>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(serde_json::json!({
            "tiles": mounted.settings.tiles,
            "tilesAttribution": mounted.settings.tiles_attribution,
        }))
}

async fn file(
    req: HttpRequest,
    path: web::Path<String>,
    mounted: web::Data<Mounted>,
) -> Result<HttpResponse, ApiError> {
    let Some(asset) = rigel_console::asset(&path) else {
        let detail = match rigel_console::missing() {
            Some(reason) => {
                format!("this rigel binary has no web console: {reason} (docs/console.md)")
            }
            None => format!("the console has no file {:?}", path.as_str()),
        };
        return Err(ApiError::Model(ModelError::not_found(detail)));
    };
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    let mut answer = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, asset.etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, mounted.policy.as_str()));
    Ok(if unchanged {
        answer.finish()
    } else {
        answer
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.body)
    })
}

/// Scripts and styles from the broker only; images also from the tile server's origin.
/// (Leaflet and uPlot set element styles from script, which a policy does not restrict.)
fn content_security_policy(tiles: Option<&str>) -> String {
    let tile_origin = tiles
        .and_then(origin)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data:{tile_origin}; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// `scheme://host[:port]` of a URL template (its `{s}` subdomain placeholder widened to `*`).
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    let authority = authority.replace("{s}", "*");
    if authority.contains(['{', '}', ' ', ';', '\'']) {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_admits_the_tile_server_origin_only_for_images() {
        let policy = content_security_policy(Some("https://{s}.tile.example.org/{z}/{x}/{y}.png"));
        assert!(policy.contains("img-src 'self' data: https://*.tile.example.org;"));
        assert!(policy.contains("script-src 'self';"));
        let plain = content_security_policy(None);
        assert!(plain.contains("img-src 'self' data:;"));
    }

    #[test]
    fn a_tile_url_that_is_not_http_adds_no_origin() {
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(
            origin("https://a.b/{z}; script-src *"),
            Some("https://a.b".into())
        );
        assert_eq!(origin("https://x y/{z}"), None);
        assert_eq!(
            origin("http://tiles:8080/{z}/{x}/{y}.png"),
            Some("http://tiles:8080".into())
        );
    }
}
