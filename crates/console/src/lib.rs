//! Rigel's web console (`docs/console.md`): the pages in `web/` and the pinned front-end
//! packages they use (Leaflet, uPlot), built into the binary by `build.rs`, so that it runs
//! with no CDN and no internet. It talks to the broker only through its public HTTP API.

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// One file of the console.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
    /// A strong validator of the body, quoted as an ETag header wants it.
    pub etag: &'static str,
}

/// The file at `path` (relative to `/console/`; empty for the first page), if there is one.
pub fn asset(path: &str) -> Option<Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(p, body, etag)| Asset {
            body,
            content_type: content_type(p),
            etag,
        })
}

/// Why this build has no console, if it has none (built without npm, or on purpose).
pub fn missing() -> Option<&'static str> {
    MISSING
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_first_page_and_its_packages_are_built_in_unless_the_build_says_why_not() {
        if let Some(reason) = missing() {
            assert!(FILES.is_empty(), "{reason}");
            return;
        }
        let page = asset("").expect("index.html");
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        for vendored in ["vendor/leaflet.js", "vendor/uplot.js", "vendor/leaflet.css"] {
            let file = asset(vendored).unwrap_or_else(|| panic!("{vendored}"));
            assert!(file.body.len() > 1000, "{vendored}");
        }
        assert!(asset("vendor/../../Cargo.toml").is_none());
    }

    #[test]
    fn content_types_follow_the_file_extension() {
        assert_eq!(content_type("js/main.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("vendor/uplot.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
