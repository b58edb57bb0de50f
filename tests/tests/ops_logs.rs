//! Logs (SPEC.md section 8): with `[logging] format = "json"` every line the gateway writes to
//! stderr is one JSON object, and each request has one line with principal, route, decision,
//! status, bytes and duration as top-level fields.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};
use serde_json::Value;

#[test]
fn json_logs_are_one_object_per_line_with_the_request_fields() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.set("logging", "format", "json"))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = sz.post_transfer().non_personal().body("12345").send();
    assert_eq!(r.status, 201, "{}", r.text());
    gw.begin_reload();
    let (code, _, stderr) = gw.stop_unchecked();
    assert_eq!(code, Some(0), "{stderr}");

    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
        assert!(line["message"].is_string(), "{line}");
    }
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["route"] == "/v1/transfers")
        .unwrap_or_else(|| panic!("no request line: {stderr}"));
    assert_eq!(request["principal"], "tenant/sz-genomics");
    assert_eq!(request["decision"], "allow");
    assert_eq!(request["status"], 201);
    assert_eq!(request["bytes"], 5);
    assert!(request["duration_ms"].is_u64(), "{request}");
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{stderr}");
}
