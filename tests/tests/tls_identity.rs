//! Who may call (SPEC.md section 1, DESIGN.md invariant 8): a client certificate from the park
//! CA with exactly one SPIFFE URI SAN in the trust domain names the principal; no certificate
//! or another CA's is refused at the handshake (or `401`), a wrong trust domain, two SPIFFE SANs,
//! none, or an unknown role is `401 auth.bad_identity`; a role on another role's endpoint is
//! `403 auth.forbidden`. None of these reach the upstream.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use loopgate::DevCa;
use loopgate_tests::client::{Client, Http};
use loopgate_tests::gateway::{ConfigToml, Gateway};

fn gw() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| Gateway::dev().start())
}

fn now() -> time::OffsetDateTime {
    loopgate::Clock::system().now()
}

/// A client whose certificate the dev CA issued with these URI SANs.
fn with_uris(uris: &[&str]) -> Client {
    let issued = gw()
        .dev_ca()
        .issue_client_with_uris("odd", uris, now())
        .unwrap();
    Client::with_cert(gw(), &issued.cert_pem, &issued.key_pem)
}

fn assert_bad_identity(client: &Client) {
    for http in [Http::One, Http::Two] {
        let r = client
            .clone()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .body("x")
            .send();
        r.assert_error(401, "auth.bad_identity", false);
    }
    assert!(gw().received().is_empty() && gw().partial().is_empty());
}

/// Refused at the TLS handshake, or (if the server lets it through) answered 401.
fn assert_refused(client: &Client, what: &str) {
    match client.post_transfer().non_personal().body("x").try_send() {
        Err(e) => assert!(e.contains("TLS") || e.contains("request"), "{what}: {e}"),
        Ok(r) => {
            r.assert_error(401, "auth.bad_identity", false);
        }
    }
    assert!(gw().received().is_empty() && gw().partial().is_empty());
}

#[test]
fn no_client_certificate_is_refused() {
    assert_refused(&Client::anonymous(gw()), "no certificate");
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let other = DevCa::generate("another park CA", now()).unwrap();
    let issued = other
        .issue_client("spiffe://loopgate.dev/tenant/sz-genomics", now())
        .unwrap();
    let client = Client::with_cert(gw(), &issued.cert_pem, &issued.key_pem);
    match client.post_transfer().non_personal().body("x").try_send() {
        Err(e) => assert!(e.contains("TLS") || e.contains("request"), "{e}"),
        Ok(r) => panic!(
            "another CA's certificate was let in: {} {}",
            r.status,
            r.text()
        ),
    }
    assert!(gw().received().is_empty());
}

#[test]
fn a_spiffe_id_of_another_trust_domain_is_bad_identity() {
    assert_bad_identity(&with_uris(&["spiffe://evil.example/tenant/sz-genomics"]));
}

#[test]
fn two_spiffe_ids_are_bad_identity() {
    assert_bad_identity(&with_uris(&[
        "spiffe://loopgate.dev/tenant/sz-genomics",
        "spiffe://loopgate.dev/tenant/hk-biolab",
    ]));
}

#[test]
fn no_spiffe_id_or_an_unknown_role_is_bad_identity() {
    assert_bad_identity(&with_uris(&["https://sz-genomics.example/"]));
    assert_bad_identity(&with_uris(&["spiffe://loopgate.dev/superuser/sz-genomics"]));
}

#[test]
fn a_regulator_or_admin_may_not_send_transfers() {
    for (role, id) in [("regulator", "pcpd"), ("admin", "park-ops")] {
        for http in [Http::One, Http::Two] {
            let r = Client::principal(gw(), role, id)
                .with_http(http)
                .post_transfer()
                .non_personal()
                .body("x")
                .send();
            r.assert_error(403, "auth.forbidden", false);
        }
    }
    assert!(gw().received().is_empty());
}

#[test]
fn a_certificate_issued_by_dev_cert_names_a_new_principal() {
    // `loopgate dev cert` issues from the same CA: the identity is accepted, and the policy
    // (not TLS) refuses a tenant that is not whitelisted.
    let (cert, key) = gw().issue_cert("tenant", "sz-newcomer");
    let r = Client::with_cert(gw(), &cert, &key)
        .post_transfer()
        .non_personal()
        .body("x")
        .send();
    r.assert_error(403, "tenant.not_whitelisted", true);
}

#[test]
fn tls_1_2_is_refused_unless_configured() {
    let client = Client::tenant(gw(), "sz-genomics").tls12_only();
    let r = client.post_transfer().non_personal().body("x").try_send();
    assert!(r.is_err(), "TLS 1.2 was accepted: {r:?}");
}

#[test]
fn a_revoked_certificate_is_refused_once_the_crl_is_configured() {
    let gw = Gateway::dev().start();
    let ca = gw.dev_ca();
    let revoked = ca
        .issue_client("spiffe://loopgate.dev/tenant/sz-genomics", now())
        .unwrap();
    let crl = ca.revocation_list(&[&revoked.serial], 1, now()).unwrap();
    std::fs::write(gw.pki("crl.pem"), crl).unwrap();
    let before = Client::with_cert(&gw, &revoked.cert_pem, &revoked.key_pem)
        .post_transfer()
        .non_personal()
        .body("x")
        .send();
    assert_eq!(
        before.status,
        201,
        "no CRL configured yet: {}",
        before.text()
    );

    let gw = Gateway::resume(gw.stop())
        .config(|c: ConfigToml| {
            c.set(
                "tls",
                "crls",
                toml::Value::Array(vec![toml::Value::from("pki/crl.pem")]),
            )
        })
        .start();
    let r = Client::with_cert(&gw, &revoked.cert_pem, &revoked.key_pem)
        .post_transfer()
        .non_personal()
        .body("x")
        .try_send();
    assert!(r.is_err(), "a revoked certificate was let in: {r:?}");
    // Others from the same CA still are.
    let ok = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body("y")
        .send();
    assert_eq!(ok.status, 201, "{}", ok.text());
}
