//! The README documents every reason code with the status and rule the code returns (a
//! transfer rule's number, or `S<n>` for a code only the shipment rules return).

use loopgate_policy::ReasonCode;
use loopgate_tests::workspace_root;

#[test]
fn readme_lists_every_reason_code_with_its_status_and_rule() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let documented: Vec<(String, String, String)> = readme
        .lines()
        .filter(|line| line.starts_with("| `") && line.contains('.'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.trim_matches('`');
            Some((
                code.to_owned(),
                cells.get(2)?.to_string(),
                cells.get(3)?.to_string(),
            ))
        })
        .filter(|(code, _, _)| code.parse::<ReasonCode>().is_ok())
        .collect();
    let expected: Vec<(String, String, String)> = ReasonCode::ALL
        .iter()
        .map(|code| {
            let rule = code
                .rule()
                .map(|r| r.to_string())
                .or_else(|| code.shipment_rule().map(|r| format!("S{r}")))
                .unwrap_or_default();
            (
                code.as_str().to_owned(),
                code.http_status().to_string(),
                rule,
            )
        })
        .collect();
    assert_eq!(
        documented, expected,
        "README.md's reason code table is out of date"
    );
}
