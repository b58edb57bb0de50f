use loopgate_policy::ReasonCode;
use time::macros::datetime;

use super::query::Params;
use crate::reply::ApiError;

const KNOWN: &[&str] = &["tenant", "limit", "from"];

fn refused(query: &str) -> ApiError {
    Params::parse(Some(query), KNOWN).unwrap_err()
}

#[test]
fn parameters_are_percent_decoded_and_empty_values_are_absent() {
    let p = Params::parse(
        Some("tenant=sz%2Dgenomics&limit=&from=2026-11-25T08%3A00%3A00%2B08%3A00"),
        KNOWN,
    )
    .unwrap();
    assert_eq!(p.text("tenant"), Some("sz-genomics"));
    assert_eq!(p.number("limit").unwrap(), None);
    assert_eq!(
        p.instant("from").unwrap(),
        Some(datetime!(2026-11-25 00:00 UTC))
    );
    let p = Params::parse(Some("tenant=a+b&&"), KNOWN).unwrap();
    assert_eq!(p.text("tenant"), Some("a b"));
    let p = Params::parse(None, KNOWN).unwrap();
    assert_eq!(p.text("tenant"), None);
}

#[test]
fn unknown_repeated_and_undecodable_parameters_are_malformed() {
    for query in [
        "sender=x",
        "tenant=a&tenant=b",
        "tenant=%zz",
        "tenant=%4",
        "tenant=%ff%fe",
        "limit=1&LIMIT=2",
    ] {
        assert_eq!(
            refused(query).code,
            ReasonCode::RequestMalformedQuery,
            "{query}"
        );
    }
    let p = Params::parse(Some("limit=-3&from=monday"), KNOWN).unwrap();
    assert_eq!(
        p.number("limit").unwrap_err().code,
        ReasonCode::RequestMalformedQuery
    );
    assert_eq!(
        p.instant("from").unwrap_err().code,
        ReasonCode::RequestMalformedQuery
    );
    let none = Params::parse(Some("x=1"), &[]).unwrap_err();
    assert!(
        none.message.contains("takes no parameters"),
        "{}",
        none.message
    );
}

/// Regression: `from=2026-12-01T10:00:00+08:00` sent unencoded arrives as a space in place of
/// the `+`, and its sender was told only that it was not an RFC 3339 instant.
#[test]
fn a_plus_decoded_as_a_space_is_named_in_the_message() {
    let p = Params::parse(Some("from=2026-12-01T10:00:00+08:00"), KNOWN).unwrap();
    let message = p.instant("from").unwrap_err().message;
    assert!(
        message.starts_with(
            "a '+' in a query must be sent as %2B; the time \"2026-12-01T10:00:00 08:00\""
        ),
        "{message}"
    );
    assert!(
        message.contains("from=2026-12-01T10:00:00%2B08:00"),
        "{message}"
    );
    // A time that is wrong otherwise gets the plain message.
    let p = Params::parse(Some("from=2026-12-01T10:00:00+0800"), KNOWN).unwrap();
    let message = p.instant("from").unwrap_err().message;
    assert!(message.contains("is not an RFC 3339 instant"), "{message}");
}
