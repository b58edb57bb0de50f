//! Logs (SPEC.md section 8): with `[logging] format = "json"` every line the gateway writes to
//! stderr is one JSON object, and each request has one line with principal, route, decision,
//! status, bytes in and out, whether it was an idempotent replay, and duration as top-level
//! fields; the text format has the same fields as `name=value`.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};
use loopgate_tests::shipment::{declaration, with};
use serde_json::{Value, json};

#[test]
fn json_logs_are_one_object_per_line_with_the_request_fields() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.set("logging", "format", "json"))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let send = || {
        sz.post_transfer()
            .non_personal()
            .idempotency_key("logged-once")
            .body("12345")
            .send()
    };
    let r = send();
    assert_eq!(r.status, 201, "{}", r.text());
    let replayed = send();
    assert_eq!(replayed.status, 201, "{}", replayed.text());
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
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["route"] == "/v1/transfers")
        .collect();
    let [request, replay] = requests[..] else {
        panic!("two request lines expected: {stderr}");
    };
    assert_eq!(request["principal"], "tenant/sz-genomics");
    assert_eq!(request["decision"], "allow");
    assert_eq!(request["status"], 201);
    // The request body read, and the answer's body sent (the receipt).
    assert_eq!(request["bytes_in"], 5);
    assert_eq!(request["bytes_out"], r.body.len());
    assert_eq!(request["replay"], false);
    assert!(request["duration_ms"].is_u64(), "{request}");
    // The retry is marked; its body was drained, never read, and its answer is the receipt.
    assert_eq!(replay["replay"], true, "{replay}");
    assert_eq!(replay["status"], 201);
    assert_eq!(replay["bytes_in"], 0);
    assert_eq!(replay["bytes_out"], replayed.body.len());
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{stderr}");
}

#[test]
fn text_logs_name_the_bytes_and_mark_a_replay() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let send = || {
        sz.post_transfer()
            .non_personal()
            .idempotency_key("text-once")
            .body("1234567")
            .send()
    };
    let first = send();
    assert_eq!(first.status, 201, "{}", first.text());
    let again = send();
    assert_eq!(again.status, 201, "{}", again.text());
    let lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.contains(" request ") && l.contains("route=\"/v1/transfers\" "))
            .map(str::to_owned)
            .collect()
    };
    let stderr = gw.stderr_once(|stderr| lines(stderr).len() >= 2);
    let lines = lines(&stderr);
    assert_eq!(lines.len(), 2, "{stderr}");
    let first_line = &lines[0];
    for field in [
        "bytes_in=7".to_owned(),
        format!("bytes_out={}", first.body.len()),
        "replay=false".to_owned(),
    ] {
        assert!(first_line.contains(&field), "{field} in {first_line}");
    }
    for field in [
        "bytes_in=0".to_owned(),
        format!("bytes_out={}", again.body.len()),
        "replay=true".to_owned(),
    ] {
        assert!(lines[1].contains(&field), "{field} in {}", lines[1]);
    }

    // A shipment declaration's retry with its `idempotency_key` is a replay too (its body is
    // read whole: the key is in it).
    let body = with(declaration(), json!({"idempotency_key": "ship-once"}));
    let declared = sz.declare(&body);
    assert_eq!(declared.status, 201, "{}", declared.text());
    assert_eq!(sz.declare(&body).text(), declared.text());
    let shipments = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.contains(" request ") && l.contains("route=\"/v1/shipments\" "))
            .map(str::to_owned)
            .collect()
    };
    let stderr = gw.stderr_once(|stderr| shipments(stderr).len() >= 2);
    let lines = shipments(&stderr);
    assert_eq!(lines.len(), 2, "{stderr}");
    let length = body.to_string().len();
    assert!(lines[0].contains("replay=false"), "{}", lines[0]);
    assert!(lines[1].contains("replay=true"), "{}", lines[1]);
    for line in &lines {
        assert!(line.contains(&format!("bytes_in={length} ")), "{line}");
    }
}
