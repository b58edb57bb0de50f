//! The dev-mode sample bundle: the reference bundle's shape, with dates set around the day the
//! folder is made, so dev mode works on any date.

use time::{Date, Duration};

/// The sample bundle for a folder made on `today` (UTC+8): every validity window runs from a year
/// before to two years after; the demo contract took effect 30 days ago, was filed 5 days later
/// (well inside 10 working days) after an impact assessment 10 days before it took effect.
pub fn sample_bundle(today: Date) -> String {
    let day = |offset: i64| (today + Duration::days(offset)).to_string();
    let effective = today - Duration::days(30);
    let filed = effective + Duration::days(5);
    let pia = effective - Duration::days(10);
    format!(
        r#"# loopgate dev mode: the sample policy bundle (made on {today}; dates are relative to it).
# Edit it and restart (or send SIGHUP once reload lands); check it with `loopgate policy check`.

[parameters]
filing_working_days = 10
gba_cities = ["guangzhou", "shenzhen", "zhuhai", "foshan", "huizhou", "dongguan",
              "zhongshan", "jiangmen", "zhaoqing", "hong_kong"]
volume_year_start = "01-01"
threshold_contract = 100000
threshold_assessment = 1000000
threshold_sensitive_assessment = 10000

[catalogue]
categories = ["genomic_sequence", "clinical_phenotype", "imaging", "cell_line_metadata",
              "instrument_telemetry", "contact_details"]

[calendar.mainland]
weekend = ["saturday", "sunday"]
holidays = []
workdays = []

[calendar.hong_kong]
weekend = ["saturday", "sunday"]
holidays = []
workdays = []

[[tenant]]
id = "sz-genomics"
legal_name = "Shenzhen Genomics Research Co., Ltd."
side = "mainland"
city = "shenzhen"
park = "shenzhen_park"
status = "approved"
valid_from = {from}
valid_until = {until}
ciio = false

[[tenant]]
id = "hk-biolab"
legal_name = "HK Park Biolab Limited"
side = "hong_kong"
city = "hong_kong"
park = "hk_park"
status = "approved"
valid_from = {from}
valid_until = {until}
ciio = false

[[inventory_item]]
id = "INV-NP-001"
owner = "sz-genomics"
recipients = ["hk-biolab"]
data_class = "non_personal"
categories = ["instrument_telemetry"]
purposes = ["research.instrument_qc"]
max_transfer_bytes = 1073741824
retention_days = 365
status = "approved"
valid_from = {from}
valid_until = {until}

[[inventory_item]]
id = "INV-PI-001"
owner = "sz-genomics"
recipients = ["hk-biolab"]
data_class = "personal"
categories = ["clinical_phenotype"]
purposes = ["research.cohort_study"]
max_transfer_bytes = 104857600
retention_days = 180
status = "approved"
valid_from = {from}
valid_until = {until}

[[contract_filing]]
reference = "GBA-SC-DEMO-001"
route = "gba_sc"
processor = "sz-genomics"
recipient = "hk-biolab"
effective_on = {effective}
filed_on = {filed}
authority = "guangdong_cac"
pia_completed_on = {pia}
categories = ["clinical_phenotype"]
purposes = ["research.cohort_study"]
covers_sensitive = false
separate_consent = false
status = "effective"
"#,
        from = day(-365),
        until = day(730),
    )
}

#[cfg(test)]
mod tests {
    use loopgate_policy::{TransferRequest, evaluate, parse_bundle};
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn the_sample_allows_both_demo_transfers_on_the_day_it_was_made() {
        for (today, at) in [
            (date!(2026 - 11 - 25), datetime!(2026-11-25 10:00 +8)),
            (date!(2031 - 02 - 28), datetime!(2031-02-28 23:59 +8)),
        ] {
            let bundle = parse_bundle(&sample_bundle(today)).unwrap();
            assert!(bundle.warnings.is_empty(), "{:?}", bundle.warnings);
            let non_personal = TransferRequest {
                sender: "sz-genomics".into(),
                recipient: "hk-biolab".into(),
                item: "INV-NP-001".into(),
                purpose: "research.instrument_qc".into(),
                ..TransferRequest::default()
            };
            assert!(evaluate(&bundle.registry, &non_personal, at).is_allowed());
            let personal = TransferRequest {
                item: "INV-PI-001".into(),
                purpose: "research.cohort_study".into(),
                filing: Some("GBA-SC-DEMO-001".into()),
                data_subjects: Some(250),
                ..non_personal
            };
            let decision = evaluate(&bundle.registry, &personal, at);
            assert!(decision.is_allowed(), "{decision:?}");
            assert!(decision.flags.is_empty());
        }
    }
}
