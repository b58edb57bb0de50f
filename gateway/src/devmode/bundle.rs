//! The dev-mode sample bundle: the reference bundle's shape (the rules' second version: both
//! parties' filings, the sample item with its export approval, the carrier, the regulator),
//! with dates set around the day the folder is made, so dev mode works on any date.

use time::{Date, Duration};

/// The sample bundle for a folder made on `today` (UTC+8): every validity window runs from a year
/// before to two years after; the demo contract took effect 30 days ago, both parties filed it 5
/// days later (well inside 10 working days on either calendar) after an impact assessment 10
/// days before it took effect.
pub fn sample_bundle(today: Date) -> String {
    let effective = today - Duration::days(30);
    let values = [
        ("{today}", today),
        ("{from}", today - Duration::days(365)),
        ("{until}", today + Duration::days(730)),
        ("{effective}", effective),
        ("{filed}", effective + Duration::days(5)),
        ("{pia}", effective - Duration::days(10)),
    ];
    values
        .iter()
        .fold(TEMPLATE.to_owned(), |text, (name, day)| {
            text.replace(name, &day.to_string())
        })
}

/// The bundle with its dates as `{name}` placeholders (a TOML file of its own, so it reads as
/// the bundle it is).
const TEMPLATE: &str = include_str!("sample-bundle.toml");

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
            let text = sample_bundle(today);
            for name in [
                "{today}",
                "{from}",
                "{until}",
                "{effective}",
                "{filed}",
                "{pia}",
            ] {
                assert!(!text.contains(name), "{name} is left in the bundle");
            }
            let bundle = parse_bundle(&text).unwrap();
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
            assert_eq!(decision.filing_numbers.len(), 2);
            let registry = &bundle.registry;
            assert!(registry.sample_items.contains_key("SMP-BLOOD-001"));
            assert!(registry.carriers.contains_key("hkp-logistics"));
            assert!(registry.regulator_sees("pcpd", loopgate_policy::Scope::Samples));
        }
    }
}
