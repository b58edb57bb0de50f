//! Rule 19 across transfers (RULES.md): routes other than `gba_sc` are held to the Mainland
//! thresholds counted per processor over the year, across all its admitted transfers and
//! across restarts (the counters are rebuilt from the log); the GBA route has no cap.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::{Client, Response};
use loopgate_tests::gateway::{Bundle, Gateway};

fn national(gw: &Gateway, subjects: u64) -> Response {
    Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .personal(subjects)
        .set("Loop-Contract-Filing", "NSC-DEMO-002")
        .body("rows")
        .send()
}

#[test]
fn the_year_count_reaches_the_assessment_threshold_and_survives_a_restart() {
    let gw = Gateway::dev()
        .policy(|bundle: Bundle| {
            bundle.copy_block(
                "reference = \"GBA-SC-DEMO-001\"",
                &[
                    ("GBA-SC-DEMO-001", "NSC-DEMO-002"),
                    ("route = \"gba_sc\"", "route = \"national_sc\""),
                ],
            )
        })
        .start();
    // threshold_assessment is 1,000,000 in the dev bundle: reaching it needs an assessment.
    assert_eq!(national(&gw, 600_000).status, 201);
    national(&gw, 400_000).assert_error(403, "volume.route_insufficient", true);
    assert_eq!(national(&gw, 399_999).status, 201, "999,999 is below it");

    let gw = gw.restart();
    national(&gw, 1).assert_error(403, "volume.route_insufficient", true);
    // The GBA Standard Contract route has no head-count cap.
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .personal(1_000_000)
        .body("rows")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(gw.received().len(), 3);
}
