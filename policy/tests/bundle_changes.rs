//! Bundle changes as the admin API makes and logs them: an emergency suspension edits exactly one
//! value of the text, and the diff names every added, removed and changed entry and setting.
#![allow(clippy::unwrap_used)]

mod common;

use common::REFERENCE;
use loopgate_policy::{
    BundleDiff, Change, EntryChanges, Plain, Status, diff, parse_bundle, set_tenant_status,
};

#[test]
fn suspension_changes_one_value_and_keeps_the_rest_of_the_text() {
    let edited = set_tenant_status(REFERENCE, "sz-genomics", Status::Suspended)
        .unwrap()
        .unwrap();
    let registry = parse_bundle(&edited).unwrap().registry;
    assert_eq!(registry.tenants["sz-genomics"].status, Status::Suspended);
    assert_eq!(registry.tenants["hk-biolab"].status, Status::Approved);
    // Only the one value differs: the same text once the new word is put back.
    let restored = edited.replacen("\"suspended\"", "\"approved\"", 1);
    assert_eq!(restored, REFERENCE);

    let changes = diff(REFERENCE, &edited).unwrap();
    let fields = &changes.tenant.changed["sz-genomics"];
    assert_eq!(fields.len(), 1, "{changes:?}");
    assert_eq!(
        fields["status"].from,
        Some(Plain::String("approved".into()))
    );
    assert_eq!(fields["status"].to, Some(Plain::String("suspended".into())));
    assert!(changes.inventory_item.changed.is_empty());
    assert!(changes.settings.is_empty());
}

#[test]
fn suspension_of_an_unknown_tenant_or_a_broken_bundle() {
    assert_eq!(
        set_tenant_status(REFERENCE, "no-such-tenant", Status::Suspended).unwrap(),
        None
    );
    let broken = REFERENCE.replacen("ciio = false", "ciio = \"no\"", 1);
    assert!(set_tenant_status(&broken, "sz-genomics", Status::Suspended).is_err());
}

#[test]
fn the_same_bundle_has_an_empty_diff() {
    let changes = diff(REFERENCE, REFERENCE).unwrap();
    assert!(changes.is_empty());
    let json = serde_json::to_value(&changes).unwrap();
    assert_eq!(
        json["tenant"],
        serde_json::json!({"added": [], "removed": [], "changed": {}})
    );
    assert_eq!(json["settings"], serde_json::json!({}));
}

#[test]
fn added_removed_and_changed_entries_and_settings() {
    let start = REFERENCE
        .find("[[inventory_item]]\nid = \"INV-PI-001\"")
        .unwrap();
    let end = start + REFERENCE[start..].find("\n\n").unwrap();
    let without_item = format!("{}{}", &REFERENCE[..start], &REFERENCE[end + 2..]);
    let extra_tenant = "\n[[tenant]]\nid = \"hk-newlab\"\nlegal_name = \"HK New Lab\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\nciio = false\n";
    let new = format!("{without_item}{extra_tenant}")
        .replacen(
            "threshold_contract = 100000",
            "threshold_contract = 90000",
            1,
        )
        .replacen(
            "holidays = [2026-10-01, 2026-10-19",
            "holidays = [2026-10-19",
            1,
        );
    let changes = diff(REFERENCE, &new).unwrap();
    assert_eq!(changes.tenant.added, ["hk-newlab"]);
    assert!(changes.tenant.removed.is_empty());
    assert_eq!(changes.inventory_item.removed, ["INV-PI-001"]);
    let threshold = &changes.settings["parameters.threshold_contract"];
    assert_eq!(threshold.from, Some(Plain::Integer(100_000)));
    assert_eq!(threshold.to, Some(Plain::Integer(90_000)));
    let holidays = &changes.settings["calendar.hong_kong.holidays"];
    let Some(Plain::Array(before)) = &holidays.from else {
        panic!("{holidays:?}")
    };
    assert_eq!(before[0], Plain::String("2026-10-01".into()));
    assert_eq!(changes.settings.len(), 2, "{:?}", changes.settings);
    // And back: every addition is a removal.
    let back = diff(&new, REFERENCE).unwrap();
    assert_eq!(back.tenant.removed, ["hk-newlab"]);
    assert_eq!(back.inventory_item.added, ["INV-PI-001"]);
}

#[test]
fn the_second_versions_entries_are_diffed_by_their_keys() {
    let new = REFERENCE
        .replacen("sees = [\"all\"]", "sees = [\"personal\"]", 1)
        .replacen("max_quantity = 200", "max_quantity = 100", 1)
        .replacen(
            "status = \"effective\"                         # effective | revoked",
            "status = \"revoked\"",
            1,
        )
        .replacen("id = \"hkp-logistics\"", "id = \"hkp-cold-chain\"", 1);
    let changes = diff(REFERENCE, &new).unwrap();
    assert_eq!(
        changes.regulator.changed["pcpd"]["sees"].to,
        Some(Plain::Array(vec![Plain::String("personal".into())]))
    );
    assert_eq!(
        changes.sample_item.changed["SMP-BLOOD-001"]["max_quantity"].to,
        Some(Plain::Integer(100))
    );
    assert_eq!(
        changes.hgr_approval.changed["HGR-EX-2026-007"]["status"].to,
        Some(Plain::String("revoked".into()))
    );
    assert_eq!(changes.carrier.added, ["hkp-cold-chain"]);
    assert_eq!(changes.carrier.removed, ["hkp-logistics"]);
    assert!(changes.settings.is_empty(), "{:?}", changes.settings);
    // Unchanged new tables are absent from the JSON, so a diff without them reads as before.
    let only_tenant = diff(
        REFERENCE,
        &REFERENCE.replacen("ciio = false", "ciio = true", 1),
    )
    .unwrap();
    let json = serde_json::to_value(&only_tenant).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["contract_filing", "inventory_item", "settings", "tenant"]
    );
    let back: loopgate_policy::BundleDiff = serde_json::from_value(json).unwrap();
    assert_eq!(back, only_tenant);
}

/// The entry tables in `tables()` order, each as its JSON key.
const TABLES: [&str; 7] = [
    "tenant",
    "carrier",
    "inventory_item",
    "sample_item",
    "contract_filing",
    "hgr_approval",
    "regulator",
];

#[test]
fn one_change_anywhere_makes_a_diff_non_empty() {
    // An entry table with only additions, only removals or only changed fields is not empty.
    let change = || Change {
        from: Some(Plain::Integer(1)),
        to: Some(Plain::Integer(2)),
    };
    let only = [
        serde_json::json!({"added": ["x"], "removed": [], "changed": {}}),
        serde_json::json!({"added": [], "removed": ["x"], "changed": {}}),
        serde_json::json!({"added": [], "removed": [], "changed": {"x": {"f": change()}}}),
    ];
    for changes in &only {
        let entries: EntryChanges = serde_json::from_value(changes.clone()).unwrap();
        assert!(!entries.is_empty(), "{changes}");
        // ... and in any table, the diff is not empty and `tables()` shows it under its name.
        for name in TABLES {
            let mut json = serde_json::to_value(BundleDiff::default()).unwrap();
            json[name] = changes.clone();
            let whole: BundleDiff = serde_json::from_value(json).unwrap();
            assert!(!whole.is_empty(), "{name}: {changes}");
            let tables = whole.tables();
            assert_eq!(tables.map(|(n, _)| n), TABLES);
            for (n, entries) in tables {
                assert_eq!(entries.is_empty(), n != name, "{n} in a diff of {name}");
            }
            // It survives the JSON the audit log keeps.
            let back: BundleDiff =
                serde_json::from_value(serde_json::to_value(&whole).unwrap()).unwrap();
            assert_eq!(back, whole, "{name}");
        }
    }
    assert!(EntryChanges::default().is_empty());
    let mut settings = BundleDiff::default();
    assert!(settings.is_empty());
    settings
        .settings
        .insert("parameters.threshold_contract".into(), change());
    assert!(!settings.is_empty());
}

#[test]
fn a_first_policy_lists_every_entry_as_added() {
    let registry = parse_bundle(REFERENCE).unwrap().registry;
    let first = BundleDiff::from_empty(REFERENCE).unwrap();
    let tenants: Vec<&String> = registry.tenants.keys().collect();
    assert_eq!(first.tenant.added.iter().collect::<Vec<_>>(), tenants);
    let items: Vec<&String> = registry.items.keys().collect();
    assert_eq!(first.inventory_item.added.iter().collect::<Vec<_>>(), items);
    assert_eq!(first.regulator.added.len(), registry.regulators.len());
    for (name, entries) in first.tables() {
        assert!(
            !entries.added.is_empty(),
            "the reference bundle has {name} entries"
        );
        assert!(entries.removed.is_empty() && entries.changed.is_empty());
    }
    assert!(first.settings.contains_key("parameters.threshold_contract"));
    assert!(
        first
            .settings
            .values()
            .all(|c| c.from.is_none() && c.to.is_some())
    );
    assert!(BundleDiff::from_empty("not = [toml").is_err());
}

/// Guards `policy apply`'s call-out: a status that goes back to the one letting requests
/// through is a lift, in every table with a status; a new withdrawal or a move between two
/// withdrawn states is not.
#[test]
fn lifts_are_statuses_going_back_to_active() {
    let withdrawn = REFERENCE
        .replace("status = \"approved\"", "status = \"suspended\"")
        .replace("status = \"effective\"", "status = \"revoked\"")
        .replacen("status = \"revoked\"", "status = \"terminated\"", 1);
    let registry = parse_bundle(&withdrawn).unwrap().registry;
    assert_eq!(registry.tenants["sz-genomics"].status, Status::Suspended);

    let lifts = diff(&withdrawn, REFERENCE).unwrap().lifts();
    let named: Vec<(&str, &str, &str)> = lifts
        .iter()
        .map(|l| (l.table, l.from.as_str(), l.what()))
        .collect();
    for table in ["tenant", "carrier", "inventory_item", "sample_item"] {
        assert!(
            named.contains(&(table, "suspended", "suspension")),
            "{table}: {named:?}"
        );
    }
    assert!(
        named.contains(&("contract_filing", "terminated", "termination")),
        "{named:?}"
    );
    assert!(
        named.contains(&("hgr_approval", "revoked", "revocation")),
        "{named:?}"
    );

    // The other way is a withdrawal, not a lift; nor is suspended -> revoked.
    assert!(diff(REFERENCE, &withdrawn).unwrap().lifts().is_empty());
    let revoked = withdrawn.replace("status = \"suspended\"", "status = \"revoked\"");
    assert!(diff(&withdrawn, &revoked).unwrap().lifts().is_empty());
    assert!(diff(REFERENCE, REFERENCE).unwrap().lifts().is_empty());
}
