//! What one principal may cost (probe item 5): an unregistered principal with a park CA
//! certificate (`tenant/ghost`) flooding the API gets `429 quota.exceeded` with `Retry-After`
//! once its token bucket is empty, before anything is logged, so the denial records it causes
//! are bounded by the quota; a 15 KB malformed header is not copied whole into its denial
//! record (a 256-byte prefix and the whole value's SHA-256); 401 and 403 refusals are logged as
//! `system` records, at a limited rate per principal.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use base64::Engine;
use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};
use ring::digest;

const RATE: u64 = 20;
const BURST: u64 = 40;

fn quota_gateway() -> Gateway {
    Gateway::dev()
        .config(|c: ConfigToml| {
            c.limit(
                "requests_per_second_per_principal",
                i64::try_from(RATE).unwrap(),
            )
            .limit("request_burst", i64::try_from(BURST).unwrap())
        })
        .start()
}

#[test]
fn a_flooding_unregistered_principal_gets_429_and_its_denial_records_are_bounded() {
    let gw = quota_gateway();
    let (cert, key) = gw.issue_cert("tenant", "ghost");
    let ghost = Client::with_cert(&gw, &cert, &key);
    let sender = Client::tenant(&gw, "sz-genomics");
    let started = Instant::now();
    let (mut denied, mut throttled) = (0u64, 0u64);
    for n in 0..300 {
        let r = ghost
            .post_transfer()
            .non_personal()
            .body(format!("ghost {n}"))
            .send();
        match r.status {
            403 => {
                r.assert_error(403, "tenant.not_whitelisted", true);
                denied += 1;
            }
            429 => {
                r.assert_error(429, "quota.exceeded", false);
                let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry), "Retry-After: {retry}");
                throttled += 1;
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
        // Another tenant has its own quota and is served throughout.
        if n % 50 == 0 {
            let ok = sender
                .post_transfer()
                .non_personal()
                .body("a legitimate transfer")
                .send();
            assert_eq!(ok.status, 201, "{}", ok.text());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(throttled > 0, "never throttled in {elapsed:.1} s");
    let bound = BURST + (RATE as f64 * elapsed).ceil() as u64 + 1;
    assert!(
        denied <= bound,
        "{denied} denials in {elapsed:.1} s, more than the quota allows ({bound})"
    );
    // The log holds one denial per 403 the ghost got, and nothing for the 429s.
    let records = gw.stop().records();
    let ghost_records = records
        .iter()
        .filter(|r| r["sender"] == "ghost" || r["principal"] == "tenant/ghost")
        .count() as u64;
    assert_eq!(ghost_records, denied, "{throttled} throttled");
}

#[test]
fn a_15_kb_header_value_is_capped_in_its_denial_record() {
    let gw = Gateway::dev().start();
    let huge = "x".repeat(15_000);
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .without("Loop-Recipient")
        .header("Loop-Recipient", &huge)
        .body("with a huge recipient")
        .send();
    let index = r
        .assert_error(400, "request.malformed_header", true)
        .unwrap();
    let records = gw.stop().records();
    let record = &records[usize::try_from(index).unwrap()];
    let recipient = record["recipient"].as_str().unwrap();
    let sha = base64::engine::general_purpose::STANDARD
        .encode(digest::digest(&digest::SHA256, huge.as_bytes()));
    assert_eq!(
        recipient,
        format!("{}...[15000 bytes, sha-256=:{sha}:]", &huge[..256])
    );
    assert!(record.to_string().len() < 2048, "{record}");
}

#[test]
fn refusals_by_identity_and_role_are_logged_at_a_limited_rate() {
    let gw = Gateway::dev().start();
    // 403: a regulator sending a transfer.
    let regulator = Client::regulator(&gw, "pcpd");
    let first = regulator
        .post_transfer()
        .non_personal()
        .body("not a tenant")
        .send();
    let index = first.assert_error(403, "auth.forbidden", true).unwrap();
    // 401: a certificate of the park CA without a usable identity.
    let issued = gw
        .dev_ca()
        .issue_client_with_uris(
            "nobody",
            &["https://nobody.example/"],
            loopgate::Clock::system().now(),
        )
        .unwrap();
    let nobody = Client::with_cert(&gw, &issued.cert_pem, &issued.key_pem);
    let unauthenticated = nobody.get("/v1/audit/checkpoint");
    let index_401 = unauthenticated
        .assert_error(401, "auth.bad_identity", true)
        .unwrap();
    // A flood of refusals: at most the burst (10) and 1 a second are logged.
    let started = Instant::now();
    let mut logged = 1u64;
    for _ in 0..60 {
        let r = regulator
            .post_transfer()
            .non_personal()
            .body("again")
            .send();
        if r.assert_error(403, "auth.forbidden", false).is_some() {
            logged += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        logged <= 10 + elapsed.ceil() as u64 + 1,
        "{logged} refusals logged in {elapsed:.1} s"
    );
    assert!(logged < 61, "every refusal was logged");
    // After a pause, the next refusal is logged and says how many were not.
    std::thread::sleep(Duration::from_millis(1500));
    let later = regulator
        .post_transfer()
        .non_personal()
        .body("after a pause")
        .send();
    let later_index = later.assert_error(403, "auth.forbidden", true).unwrap();

    let records = gw.stop().records();
    let refusal = &records[usize::try_from(index).unwrap()];
    assert_eq!(refusal["kind"], "system");
    assert_eq!(refusal["event"], "refused");
    assert_eq!(refusal["reason"], "auth.forbidden");
    assert_eq!(refusal["principal"], "regulator/pcpd");
    assert_eq!(refusal["method"], "POST");
    assert_eq!(refusal["path"], "/v1/transfers");
    assert_eq!(refusal["status"], 403);
    let bad = &records[usize::try_from(index_401).unwrap()];
    assert_eq!(bad["reason"], "auth.bad_identity");
    assert_eq!(bad["principal"], "unauthenticated");
    assert_eq!(bad["status"], 401);
    assert!(!bad["message"].as_str().unwrap().is_empty(), "{bad}");
    let later = &records[usize::try_from(later_index).unwrap()];
    assert_eq!(later["suppressed"], 61 - logged, "{later}");
}
