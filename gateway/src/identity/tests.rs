use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::macros::datetime;

use super::*;
use crate::pki::DevCa;

const DOMAIN: &str = "loop.example";

#[test]
fn spiffe_ids_parse_into_role_and_id() {
    let ok = |uri: &str, role, id: &str| {
        assert_eq!(
            parse_spiffe_id(uri, DOMAIN),
            Ok(Principal {
                role,
                id: id.to_owned()
            }),
            "{uri}"
        );
    };
    ok(
        "spiffe://loop.example/tenant/sz-genomics",
        Role::Tenant,
        "sz-genomics",
    );
    ok(
        "spiffe://loop.example/regulator/pcpd",
        Role::Regulator,
        "pcpd",
    );
    ok(
        "spiffe://loop.example/admin/park-ops",
        Role::Admin,
        "park-ops",
    );
    ok(
        "spiffe://loop.example/tenant/INV_1.a",
        Role::Tenant,
        "INV_1.a",
    );
}

#[test]
fn spiffe_ids_outside_the_grammar_are_refused() {
    let bad = |uri: &str| {
        assert!(
            matches!(parse_spiffe_id(uri, DOMAIN), Err(IdentityError::BadPath(_))),
            "{uri}"
        );
    };
    bad("spiffe://loop.example/tenant");
    bad("spiffe://loop.example/tenant/");
    bad("spiffe://loop.example/operator/x");
    bad("spiffe://loop.example/tenant/a/b");
    bad("spiffe://loop.example/tenant/../admin");
    bad("spiffe://loop.example/tenant/a%2Fb");
    bad("spiffe://loop.example");
    assert!(matches!(
        parse_spiffe_id("spiffe://other.example/tenant/x", DOMAIN),
        Err(IdentityError::WrongTrustDomain { .. })
    ));
    // A trust domain that merely starts like ours is another trust domain.
    assert!(matches!(
        parse_spiffe_id("spiffe://loop.example.evil/tenant/x", DOMAIN),
        Err(IdentityError::WrongTrustDomain { .. })
    ));
}

fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn certificates_need_exactly_one_spiffe_san_in_the_trust_domain() {
    let now = datetime!(2026-06-01 00:00 UTC);
    let ca = DevCa::generate("test CA", now).unwrap();
    let one = ca
        .issue_client("spiffe://loop.example/tenant/sz-genomics", now)
        .unwrap();
    assert_eq!(
        principal_from_cert(&der_of(&one.cert_pem), DOMAIN),
        Ok(Principal {
            role: Role::Tenant,
            id: "sz-genomics".into()
        })
    );

    let two = ca
        .issue_client_with_uris(
            "two",
            &[
                "spiffe://loop.example/tenant/sz-genomics",
                "spiffe://loop.example/admin/park-ops",
            ],
            now,
        )
        .unwrap();
    assert_eq!(
        principal_from_cert(&der_of(&two.cert_pem), DOMAIN),
        Err(IdentityError::Several(2))
    );

    let none = ca
        .issue_client_with_uris("none", &["https://sz-genomics.example/"], now)
        .unwrap();
    assert_eq!(
        principal_from_cert(&der_of(&none.cert_pem), DOMAIN),
        Err(IdentityError::Missing)
    );

    let foreign = ca
        .issue_client("spiffe://other.example/tenant/sz-genomics", now)
        .unwrap();
    assert!(matches!(
        principal_from_cert(&der_of(&foreign.cert_pem), DOMAIN),
        Err(IdentityError::WrongTrustDomain { .. })
    ));

    assert_eq!(
        principal_from_cert(b"not a certificate", DOMAIN),
        Err(IdentityError::Unparsable)
    );
}
