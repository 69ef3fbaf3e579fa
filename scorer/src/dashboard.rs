//! The dashboard page at `/`: its HTML, script and style sheet and the vendored
//! charting library, compiled into the binary so that the page works with no
//! network but the server's own. Its data comes from `POST /v1/sql` and
//! `GET /v1/pipeline`.
//!
//! Every asset carries an `ETag` (a hash of its bytes), so a browser revalidates
//! with one cheap request and a new binary is never hidden behind a stale cache.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::serve::ApiError;

/// One embedded file.
struct Asset {
    /// Its path under `/assets/`; the page itself is `index.html`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    cache_control: &'static str,
}

/// Revalidate on every use: the page and its own script change with the binary.
const REVALIDATE: &str = "no-cache";
/// The library changes only with its version, which the vendor README records.
const LIBRARY: &str = "public, max-age=86400";

const ASSETS: [Asset; 4] = [
    Asset {
        path: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../assets/index.html"),
        cache_control: REVALIDATE,
    },
    Asset {
        path: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/dashboard.js"),
        cache_control: REVALIDATE,
    },
    Asset {
        path: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/dashboard.css"),
        cache_control: REVALIDATE,
    },
    Asset {
        path: "vendor/chart.umd.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/vendor/chart.umd.min.js"),
        cache_control: LIBRARY,
    },
];

/// Scripts, styles, data and images from this server only; no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Each asset's ETag, in the order of [`ASSETS`].
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hasher = DefaultHasher::new();
            asset.body.hash(&mut hasher);
            HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// The routes `/` and `/assets/{path}`; they need no state.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    respond(0, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS
        .iter()
        .position(|a| a.path == path && path != "index.html")
    {
        Some(found) => respond(found, &headers),
        None => ApiError::new(StatusCode::NOT_FOUND, format!("no asset {path:?}")).into_response(),
    }
}

fn respond(index: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = ETAGS[index].clone();
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || tag.trim().trim_start_matches("W/") == etag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.path == "index.html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_embedded_assets() {
        let page = std::str::from_utf8(ASSETS[0].body).expect("UTF-8");
        let mut named = 0;
        for (at, _) in page.match_indices("/assets/") {
            let rest = &page[at + "/assets/".len()..];
            let path = &rest[..rest.find('"').expect("a quoted path")];
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "{path} is not embedded"
            );
            named += 1;
        }
        assert_eq!(named, 3, "the script, the style sheet and the library");
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn etags_differ_between_assets() {
        let mut tags: Vec<_> = ETAGS.iter().collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
