//! The regulator console (`/console/`): a small web app served on the API listener from files
//! embedded in the binary (`gateway/console/`: no CDN, no build step). Every console URL answers
//! the same app shell; its script routes by `location.pathname` and reads the regulator API
//! only, as the regulator's browser (same origin, the same client certificate). Login is the
//! mTLS certificate: the route table lets only the `regulator` role in, and the shell checks
//! that the regulator is listed (`[[regulator]]`); anyone else gets an HTML page saying "This
//! console is for regulators" and why, with the refusal's code and `log_index` (it is logged as
//! any 401/403), and no data.
//!
//! Every console answer carries a strict Content Security Policy (no inline script or style, no
//! eval, same-origin only, never framed), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`. Assets have an `ETag` and `Cache-Control: no-cache` (the
//! browser revalidates and gets 304 until the binary changes).

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use loopgate_policy::ReasonCode;
use serde_json::Value;

use crate::api::{Answer, ApiBody};
use crate::reply::ApiError;
use crate::state::AppState;

/// Where console URLs start. `/console` alone (no slash) is the overview too.
pub(crate) const PREFIX: &str = "/console";

/// The policy every console answer is served under.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The app shell: every page's HTML.
const SHELL: &str = include_str!("../../console/index.html");

/// One embedded asset.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../console/app.js"),
    },
    Asset {
        name: "verify.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../console/verify.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../console/i18n.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../console/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../console/icon.svg"),
    },
];

/// Whether `path` is a console URL (its errors are answered as HTML pages).
pub(crate) fn is_console(path: &str) -> bool {
    path == PREFIX || path.starts_with("/console/")
}

/// `GET /console/...`: the app shell, for a regulator the policy in force lists.
pub(crate) fn shell(state: &AppState, regulator: &str) -> Result<Answer, ApiError> {
    let snapshot = state.policy();
    if !snapshot.registry.regulators.contains_key(regulator) {
        return Err(ApiError::new(ReasonCode::AuthForbidden).message(format!(
            "regulator/{regulator} has no [[regulator]] entry in the policy in force (version {}), so it sees no record",
            snapshot.version
        )));
    }
    let mut response = html(StatusCode::OK, Bytes::from_static(SHELL.as_bytes()));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Answer::Response(response))
}

/// `GET /console/assets/{file}`: an embedded asset (304 when `If-None-Match` names its ETag);
/// an unknown name is 404.
pub(crate) fn asset(name: &str, headers: &HeaderMap) -> Result<Answer, ApiError> {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return Err(ApiError::new(ReasonCode::RequestNotFound)
            .message(format!("the console has no asset {name:?}")));
    };
    let etag = etags()[index].as_str();
    let matched = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let (status, body) = if matched {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from_static(asset.bytes))
    };
    let mut response = Response::new(boxed(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if !matched {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    Ok(Answer::Response(response))
}

/// Each asset's ETag (a quoted prefix of its SHA-256), in `ASSETS` order.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = ring::digest::digest(&ring::digest::SHA256, asset.bytes);
                let hex: String = digest.as_ref()[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// A console URL's error answer (a JSON error body: the role check's 403, an unlisted
/// regulator's, a 404, a 401) as an HTML page naming the code, the message and the record that
/// logged the refusal. Other answers pass unchanged.
pub(crate) fn error_page(answer: Answer) -> Answer {
    let Answer::Whole((status, body)) = &answer else {
        return answer;
    };
    if status.is_success() {
        return answer;
    }
    let Ok(error) = serde_json::from_slice::<Value>(body) else {
        return answer;
    };
    let code = error["error"].as_str().unwrap_or("error");
    let message = error["message"].as_str().unwrap_or_default();
    let stop = if message.ends_with('.') { "" } else { "." };
    let logged = match error["log_index"].as_u64() {
        Some(index) => format!(" This refusal is logged as record {index}."),
        None => String::new(),
    };
    let (title, lead) = if matches!(*status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        (
            "This console is for regulators",
            "This console is for regulators: it opens with the client certificate of a regulator \
             the policy in force lists (<code>[[regulator]]</code>). Tenants, carriers and \
             admins use the API with their own certificates.",
        )
    } else {
        ("Not found", "The console has no such page or file.")
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} - loopgate</title>\n\
         <link rel=\"stylesheet\" href=\"/console/assets/app.css\">\n</head>\n<body>\n\
         <main id=\"main\" class=\"refusal\">\n<h1>{title}</h1>\n<p>{lead}</p>\n\
         <p>Why: {}{stop}{logged}</p>\n<p>Code: <code>{}</code> (HTTP {})</p>\n</main>\n</body>\n</html>\n",
        escape(message),
        escape(code),
        status.as_u16()
    );
    let mut response = html(*status, Bytes::from(page));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Answer::Response(response)
}

/// An HTML answer with the console's security headers.
fn html(status: StatusCode, body: Bytes) -> Response<ApiBody> {
    let mut response = Response::new(boxed(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

fn boxed(body: Bytes) -> ApiBody {
    Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The security headers of every console answer.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_etag_and_an_unknown_one_is_404() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        for (i, tag) in tags.iter().enumerate() {
            assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
            assert!(!tags[i + 1..].contains(tag), "{tag} twice");
        }
        assert!(asset("nope.js", &HeaderMap::new()).is_err());
        assert!(asset("../index.html", &HeaderMap::new()).is_err());
    }

    #[test]
    fn the_shell_loads_only_its_own_assets_with_no_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            assert!(
                SHELL.contains(&format!("src=\"/console/assets/{}\"", asset.name)),
                "{}",
                asset.name
            );
        }
        assert!(!SHELL.contains("<script>"), "no inline script");
        assert!(!SHELL.contains("style="), "no inline style");
        assert!(!SHELL.contains("<style"), "no inline style");
        assert!(!SHELL.contains("http://") && !SHELL.contains("https://"));
    }

    #[test]
    fn error_pages_escape_what_they_quote() {
        let body = br#"{"error":"auth.forbidden","message":"<script>x</script>","log_index":7}"#;
        let answer = error_page(Answer::Whole((
            StatusCode::FORBIDDEN,
            Bytes::from_static(body),
        )));
        let Answer::Response(response) = answer else {
            panic!("an HTML page");
        };
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap_or_default()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
