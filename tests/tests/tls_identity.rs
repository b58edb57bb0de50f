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

/// 401 `auth.bad_identity` over both protocols, and the body (`body`, unique to the caller's
/// test) never reaches the upstream.
fn assert_bad_identity(client: &Client, body: &str) {
    for http in [Http::One, Http::Two] {
        let r = client
            .clone()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .body(body.to_owned())
            .send();
        r.assert_error(401, "auth.bad_identity", false);
    }
    assert!(gw().received_containing(body.as_bytes()).is_empty());
}

/// The gateway's diagnostics once a TLS handshake was refused for `why` (rustls's words).
fn refused_for(gw: &Gateway, why: &str) -> String {
    let stderr = gw.stderr_once(|s| {
        s.lines()
            .any(|l| l.contains("TLS handshake refused") && l.contains(why))
    });
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("TLS handshake refused") && l.contains(why)),
        "no handshake refused for {why:?} in:\n{stderr}"
    );
    stderr
}

#[test]
fn no_client_certificate_is_refused() {
    let body = "refused: no client certificate";
    let r = Client::anonymous(gw())
        .post_transfer()
        .non_personal()
        .body(body)
        .try_send();
    // The client may or may not read the server's alert before the connection closes
    // (`CertificateRequired`, or a closed channel): the reason is in the gateway's diagnostics.
    assert!(
        r.is_err(),
        "a client without a certificate was let in: {r:?}"
    );
    refused_for(gw(), "peer sent no certificates");
    assert!(gw().received_containing(body.as_bytes()).is_empty());
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let other = DevCa::generate("another park CA", now()).unwrap();
    let issued = other
        .issue_client("spiffe://loopgate.dev/tenant/sz-genomics", now())
        .unwrap();
    let client = Client::with_cert(gw(), &issued.cert_pem, &issued.key_pem);
    let body = "refused: another park's CA";
    let r = client.post_transfer().non_personal().body(body).try_send();
    assert!(r.is_err(), "another CA's certificate was let in: {r:?}");
    // TLS 1.3 clients send their request before they read the server's alert, so the reason
    // is in the gateway's diagnostics.
    refused_for(gw(), "UnknownIssuer");
    assert!(gw().received_containing(body.as_bytes()).is_empty());
}

#[test]
fn a_spiffe_id_of_another_trust_domain_is_bad_identity() {
    assert_bad_identity(
        &with_uris(&["spiffe://evil.example/tenant/sz-genomics"]),
        "refused: another trust domain",
    );
}

#[test]
fn two_spiffe_ids_are_bad_identity() {
    assert_bad_identity(
        &with_uris(&[
            "spiffe://loopgate.dev/tenant/sz-genomics",
            "spiffe://loopgate.dev/tenant/hk-biolab",
        ]),
        "refused: two SPIFFE ids",
    );
}

#[test]
fn no_spiffe_id_or_an_unknown_role_is_bad_identity() {
    assert_bad_identity(
        &with_uris(&["https://sz-genomics.example/"]),
        "refused: no SPIFFE id",
    );
    assert_bad_identity(
        &with_uris(&["spiffe://loopgate.dev/superuser/sz-genomics"]),
        "refused: an unknown role",
    );
}

#[test]
fn a_regulator_or_admin_may_not_send_transfers() {
    for (role, id) in [("regulator", "pcpd"), ("admin", "park-ops")] {
        for http in [Http::One, Http::Two] {
            let r = Client::principal(gw(), role, id)
                .with_http(http)
                .post_transfer()
                .non_personal()
                .body("refused: not a tenant")
                .send();
            r.assert_error(403, "auth.forbidden", false);
        }
    }
    assert!(
        gw().received_containing(b"refused: not a tenant")
            .is_empty()
    );
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
    let e = r.expect_err("TLS 1.2 was accepted");
    assert!(e.contains("ProtocolVersion"), "{e}");
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
    refused_for(&gw, "Revoked");
    // Others from the same CA still are.
    let ok = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body("y")
        .send();
    assert_eq!(ok.status, 201, "{}", ok.text());
}

/// The control for the refusals above: an accepted identity's body is found by the same search.
#[test]
fn an_accepted_identity_reaches_the_upstream() {
    let body = "accepted: the sender's own certificate";
    let r = Client::tenant(gw(), "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(body)
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw().received_containing(body.as_bytes()), [id]);
}
