//! Role separation (DESIGN.md invariant 8, SPEC.md section 1): every endpoint against every kind
//! of caller: the transfer's (and shipment's) sender, its recipient, another tenant, the
//! shipment's carrier, a regulator, an admin, and a certificate naming a role that does not
//! exist. A caller of the wrong role gets 403 `auth.forbidden` and changes nothing; tenants see
//! only their own transfers and shipments, carriers only the shipments they carry; regulators
//! only read; admins change the registry, never the log.

#![allow(clippy::unwrap_used)]

use http::Method;
use loopgate_tests::client::{Client, TestBody};
use loopgate_tests::gateway::Gateway;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Sender,
    Recipient,
    OtherTenant,
    Carrier,
    Regulator,
    Admin,
    UnknownRole,
}

const CALLERS: [Caller; 7] = [
    Caller::Sender,
    Caller::Recipient,
    Caller::OtherTenant,
    Caller::Carrier,
    Caller::Regulator,
    Caller::Admin,
    Caller::UnknownRole,
];

/// What a caller must get: the exact status, and the error code when it is an error.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Status(u16),
    Error(u16, &'static str),
    /// Let through to the endpoint (whatever the policy then says), not refused by role.
    Admitted,
    /// Refused with this status and code by the endpoint's own rule, and logged (a shipment's
    /// party reporting another party's custody step, rule S9).
    Logged(u16, &'static str),
    /// A console URL's refusal: an HTML page with this status saying the console is for
    /// regulators (the API's refusal, for a browser).
    Page(u16),
}

use Expect::{Admitted, Error, Logged, Page, Status};

const FORBIDDEN: Expect = Error(403, "auth.forbidden");

fn client(gw: &Gateway, caller: Caller) -> Client {
    match caller {
        Caller::Sender => Client::tenant(gw, "sz-genomics"),
        Caller::Recipient => Client::tenant(gw, "hk-biolab"),
        Caller::OtherTenant => {
            let (cert, key) = gw.issue_cert("tenant", "hk-otherlab");
            Client::with_cert(gw, &cert, &key)
        }
        Caller::Carrier => Client::carrier(gw, "hkp-logistics"),
        Caller::Regulator => Client::regulator(gw, "pcpd"),
        Caller::Admin => Client::principal(gw, "admin", "park-ops"),
        Caller::UnknownRole => {
            // `loopgate dev cert` refuses a role that does not exist; the dev CA does not.
            let issued = gw
                .dev_ca()
                .issue_client_with_uris(
                    "auditor",
                    &["spiffe://loopgate.dev/auditor/kpmg"],
                    loopgate::Clock::system().now(),
                )
                .unwrap();
            Client::with_cert(gw, &issued.cert_pem, &issued.key_pem)
        }
    }
}

/// The log's size, from the latest checkpoint.
fn log_size(gw: &Gateway) -> u64 {
    let text = Client::regulator(gw, "pcpd")
        .get("/v1/audit/checkpoint")
        .text();
    text.lines().nth(1).unwrap().parse().unwrap()
}

/// The rows cover exactly the gateway's route table, and each row lets in only the role the
/// table names: a new endpoint without a row here fails this test.
fn check_rows_against_the_route_table(
    rows: &[(Method, &'static str, String, String, [Expect; 7])],
) {
    let mut listed: Vec<(&str, &str)> = rows
        .iter()
        .map(|(method, pattern, ..)| (method.as_str(), *pattern))
        .collect();
    let mut table: Vec<(&str, &str)> = loopgate::route_table()
        .into_iter()
        .map(|(method, pattern, _)| (method, pattern))
        .collect();
    listed.sort_unstable();
    table.sort_unstable();
    assert_eq!(listed, table, "the matrix's rows against the route table");
    for (method, pattern, role) in loopgate::route_table() {
        let (_, _, _, _, expected) = rows
            .iter()
            .find(|(m, p, ..)| m.as_str() == method && *p == pattern)
            .expect("a row");
        for (caller, expect) in CALLERS.iter().zip(expected) {
            let callers_role = match caller {
                Caller::Sender | Caller::Recipient | Caller::OtherTenant => "tenant",
                Caller::Carrier => "carrier",
                Caller::Regulator => "regulator",
                Caller::Admin => "admin",
                Caller::UnknownRole => continue,
            };
            if !role.split('|').any(|r| r == callers_role) {
                assert!(
                    matches!(expect, Error(403, "auth.forbidden") | Page(403)),
                    "{method} {pattern} is for {role}: {caller:?} must be refused, the row says {expect:?}"
                );
            }
        }
    }
}

#[test]
fn every_endpoint_against_every_caller() {
    let gw = Gateway::dev().start();
    let receipt = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"matrix"[..])
        .send();
    assert_eq!(receipt.status, 201, "{}", receipt.text());
    let id = receipt.json()["transfer_id"].as_str().unwrap().to_owned();
    let bundle = std::fs::read_to_string(gw.dir().join("policy.toml")).unwrap();

    let transfer = format!("/v1/transfers/{id}");
    let events = format!("/v1/transfers/{id}/events");
    let declared =
        Client::tenant(&gw, "sz-genomics").declare(&loopgate_tests::shipment::declaration());
    assert_eq!(declared.status, 201, "{}", declared.text());
    let shipment_id = declared.json()["shipment_id"].as_str().unwrap().to_owned();
    let shipment = format!("/v1/shipments/{shipment_id}");
    let custody = format!("/v1/shipments/{shipment_id}/events");
    let reads: [(&str, &str); 14] = [
        ("/v1/audit/shipments", "/v1/audit/shipments"),
        ("/v1/audit/records", "/v1/audit/records?limit=5"),
        ("/v1/audit/records/{log_index}", "/v1/audit/records/0"),
        ("/v1/audit/checkpoint", "/v1/audit/checkpoint"),
        (
            "/v1/audit/proof/inclusion",
            "/v1/audit/proof/inclusion?log_index=0&tree_size=1",
        ),
        (
            "/v1/audit/proof/consistency",
            "/v1/audit/proof/consistency?from=1&to=2",
        ),
        ("/v1/audit/retention/overdue", "/v1/audit/retention/overdue"),
        ("/v1/audit/export", "/v1/audit/export?from=0&to=2"),
        ("/v1/audit/counters", "/v1/audit/counters"),
        ("/v1/audit/stats", "/v1/audit/stats"),
        ("/v1/audit/whoami", "/v1/audit/whoami"),
        ("/v1/audit/report", "/v1/audit/report"),
        ("/v1/audit/tile/{tile*}", "/v1/audit/tile/0/000.p/1"),
        (
            "/v1/audit/tile/entries/{tile*}",
            "/v1/audit/tile/entries/000.p/1",
        ),
    ];

    // (method, the route table's path pattern, the path called, body, expectation per caller
    // in CALLERS order)
    type Row = (Method, &'static str, String, String, [Expect; 7]);
    let mut rows: Vec<Row> = Vec::new();
    let bad = Error(401, "auth.bad_identity");
    rows.push((
        Method::POST,
        "/v1/transfers",
        "/v1/transfers".to_owned(),
        "x".to_owned(),
        [
            Admitted, Admitted, Admitted, FORBIDDEN, FORBIDDEN, FORBIDDEN, bad,
        ],
    ));
    // Every tenant lists its own transfers (another tenant's list is empty, never theirs).
    rows.push((
        Method::GET,
        "/v1/transfers",
        "/v1/transfers?limit=5".to_owned(),
        String::new(),
        [
            Status(200),
            Status(200),
            Status(200),
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            bad,
        ],
    ));
    // To another tenant, a transfer it is no party to does not exist.
    let unknown = Error(404, "request.not_found");
    rows.push((
        Method::GET,
        "/v1/transfers/{transfer_id}",
        transfer.clone(),
        String::new(),
        [
            Status(200),
            Status(200),
            unknown,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            bad,
        ],
    ));
    rows.push((
        Method::POST,
        "/v1/transfers/{transfer_id}/events",
        events.clone(),
        loopgate_tests::event::valid("stored"),
        [
            FORBIDDEN,
            Status(201),
            unknown,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            bad,
        ],
    ));
    rows.push((
        Method::POST,
        "/v1/shipments",
        "/v1/shipments".to_owned(),
        loopgate_tests::shipment::declaration().to_string(),
        [
            Admitted, Admitted, Admitted, FORBIDDEN, FORBIDDEN, FORBIDDEN, bad,
        ],
    ));
    rows.push((
        Method::GET,
        "/v1/shipments/{shipment_id}",
        shipment.clone(),
        String::new(),
        [
            Status(200),
            Status(200),
            FORBIDDEN,
            Status(200),
            FORBIDDEN,
            FORBIDDEN,
            bad,
        ],
    ));
    // `sealed` is the sender's step: the recipient and the carrier are parties of the shipment
    // whose report is refused by rule S9 and logged; anyone else is refused before the log.
    let refused = Logged(403, "auth.forbidden");
    rows.push((
        Method::POST,
        "/v1/shipments/{shipment_id}/events",
        custody.clone(),
        loopgate_tests::shipment::step("sealed").to_string(),
        [
            Status(201),
            refused,
            FORBIDDEN,
            refused,
            FORBIDDEN,
            FORBIDDEN,
            bad,
        ],
    ));
    for (pattern, path) in reads {
        rows.push((
            Method::GET,
            pattern,
            path.to_owned(),
            String::new(),
            [
                FORBIDDEN,
                FORBIDDEN,
                FORBIDDEN,
                FORBIDDEN,
                Status(200),
                FORBIDDEN,
                bad,
            ],
        ));
    }
    rows.push((
        Method::GET,
        "/v1/admin/policy",
        "/v1/admin/policy".to_owned(),
        String::new(),
        [
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            Status(200),
            bad,
        ],
    ));
    rows.push((
        Method::PUT,
        "/v1/admin/policy",
        "/v1/admin/policy".to_owned(),
        bundle.clone(),
        [
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            Status(200),
            bad,
        ],
    ));
    rows.push((
        Method::POST,
        "/v1/admin/tenants/{id}/suspend",
        "/v1/admin/tenants/hk-otherlab/suspend".to_owned(),
        String::new(),
        [
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            Error(404, "request.not_found"),
            bad,
        ],
    ));
    rows.push((
        Method::POST,
        "/v1/admin/tenants/{id}/unsuspend",
        "/v1/admin/tenants/hk-otherlab/unsuspend".to_owned(),
        String::new(),
        [
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
            Error(404, "request.not_found"),
            bad,
        ],
    ));

    // The regulator console: its pages for regulators (others get the HTML refusal page), its
    // static files for anyone the park CA certified.
    for (pattern, path) in [
        ("/console", "/console/"),
        ("/console/records", "/console/records?tenant=sz-genomics"),
        ("/console/records/{log_index}", "/console/records/0"),
        (
            "/console/transfers/{transfer_id}",
            "/console/transfers/ab12",
        ),
        (
            "/console/shipments/{shipment_id}",
            "/console/shipments/cd34",
        ),
        ("/console/overdue", "/console/overdue"),
        ("/console/reports", "/console/reports"),
    ] {
        rows.push((
            Method::GET,
            pattern,
            path.to_owned(),
            String::new(),
            [
                Page(403),
                Page(403),
                Page(403),
                Page(403),
                Status(200),
                Page(403),
                Page(401),
            ],
        ));
    }
    rows.push((
        Method::GET,
        "/console/assets/{file}",
        "/console/assets/app.css".to_owned(),
        String::new(),
        [
            Status(200),
            Status(200),
            Status(200),
            Status(200),
            Status(200),
            Status(200),
            Page(401),
        ],
    ));

    check_rows_against_the_route_table(&rows);

    let clients: Vec<Client> = CALLERS.iter().map(|caller| client(&gw, *caller)).collect();
    let mut failures = Vec::new();
    for (method, _, path, body, expected) in &rows {
        for ((caller, expect), c) in CALLERS.iter().zip(expected).zip(&clients) {
            let before = log_size(&gw);
            let mut request = c.builder(method.clone(), path);
            if path == "/v1/transfers" {
                request = request
                    .header("Loop-Inventory-Item", "INV-NP-001")
                    .header("Loop-Recipient", "hk-biolab")
                    .header("Loop-Purpose", "research.instrument_qc");
            }
            let response = c.request(request.body(TestBody::bytes(body.clone())).unwrap());
            let ok = match *expect {
                Status(status) => response.status == status,
                Error(status, code) => response.status == status && response.error() == code,
                Admitted => {
                    !matches!(response.status, 401 | 403) || !response.error().starts_with("auth.")
                }
                Logged(status, code) => {
                    response.status == status
                        && response.error() == code
                        && response.log_index().is_some()
                }
                Page(status) => {
                    response.status == status
                        && response.text().contains("This console is for regulators")
                }
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {caller:?}: expected {expect:?}, got {} {}",
                    response.status,
                    response.text()
                ));
            }
            // A refused caller leaves one `system` record of the refusal, named by the answer's
            // log_index (at a limited rate per principal: or none), and nothing else.
            if matches!(expect, Error(_, code) if code.starts_with("auth.")) {
                let after = log_size(&gw);
                let one_refusal = after == before + 1 && response.log_index() == Some(before);
                if after != before && !one_refusal {
                    failures.push(format!(
                        "{method} {path} as {caller:?} was refused but the log grew {before} -> {after}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A tenant cannot send as another: the sender is the certificate's, never a header's.
    let spoofed = Client::tenant(&gw, "hk-biolab")
        .post_transfer()
        .non_personal()
        .header("Loop-Sender", "sz-genomics")
        .body(&b"x"[..])
        .send();
    assert_ne!(spoofed.status, 201, "{}", spoofed.text());
}
