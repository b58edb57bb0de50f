//! Rules 1-3: the sender and the recipient are whitelisted, approved, valid today (UTC+8) and on
//! the right sides. One row per reason code and per boundary of every validity window.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::*;
use loopgate_policy::{Park, ReasonCode as R, Registry, Side, Status};

/// Sender window narrowed to April 2026 so the personal transfer can be allowed inside it.
fn sender_april(r: &mut Registry) {
    r.sender().valid_from = date("2026-04-01");
    r.sender().valid_until = date("2026-04-30");
}

fn recipient_april(r: &mut Registry) {
    r.recipient().valid_from = date("2026-04-01");
    r.recipient().valid_until = date("2026-04-30");
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        Case::new("baseline non-personal", np(), "2026-04-15", ALLOW),
        Case::new("baseline personal", pi(), "2026-04-15", ALLOW),
        // Rule 1: existence and status.
        Case::new(
            "sender unknown",
            np().sender("nobody"),
            "2026-04-15",
            Err(R::TenantNotWhitelisted),
        ),
        Case::new(
            "sender id is case-sensitive",
            np().sender("SZ-GENOMICS"),
            "2026-04-15",
            Err(R::TenantNotWhitelisted),
        ),
        Case::new(
            "sender is an empty id",
            np().sender(""),
            "2026-04-15",
            Err(R::TenantNotWhitelisted),
        ),
        Case::new(
            "sender suspended",
            np(),
            "2026-04-15",
            Err(R::TenantSuspended),
        )
        .tweak(|r| r.sender().status = Status::Suspended),
        Case::new("sender revoked", np(), "2026-04-15", Err(R::TenantRevoked))
            .tweak(|r| r.sender().status = Status::Revoked),
        // Rule 1: the reference window 2026-01-01..=2027-12-31, inclusive on both ends.
        Case::new(
            "sender day before first valid day",
            np(),
            "2025-12-31",
            Err(R::TenantNotValid),
        ),
        Case::new("sender first valid day", np(), "2026-01-01", ALLOW),
        Case::new("sender last valid day", np(), "2027-12-31", ALLOW),
        Case::new(
            "sender day after last valid day",
            np(),
            "2028-01-01",
            Err(R::TenantNotValid),
        ),
        // "Today" is the calendar day in UTC+8: 16:00Z is midnight in the parks.
        Case::new(
            "sender window opens at 16:00Z the day before",
            np(),
            "2025-12-31T16:00:00Z",
            ALLOW,
        ),
        Case::new(
            "sender window still closed at 15:59:59Z",
            np(),
            "2025-12-31T15:59:59Z",
            Err(R::TenantNotValid),
        ),
        Case::new(
            "sender window still open at 15:59:59Z",
            np(),
            "2027-12-31T15:59:59Z",
            ALLOW,
        ),
        Case::new(
            "sender window closed at 16:00Z",
            np(),
            "2027-12-31T16:00:00Z",
            Err(R::TenantNotValid),
        ),
        Case::new(
            "offset instant is read in UTC+8",
            np(),
            "2027-12-31T23:59:59+08:00",
            ALLOW,
        ),
        Case::new(
            "offset instant west of UTC",
            np(),
            "2027-12-31T11:00:00-05:00",
            Err(R::TenantNotValid),
        ),
        // The same boundaries with a narrow window and the personal transfer.
        Case::new(
            "sender april: 03-31",
            pi(),
            "2026-03-31",
            Err(R::TenantNotValid),
        )
        .tweak(sender_april),
        Case::new("sender april: 04-01", pi(), "2026-04-01", ALLOW).tweak(sender_april),
        Case::new("sender april: 04-30", pi(), "2026-04-30", ALLOW).tweak(sender_april),
        Case::new(
            "sender april: 05-01",
            pi(),
            "2026-05-01",
            Err(R::TenantNotValid),
        )
        .tweak(sender_april),
        Case::new("sender one-day window", pi(), "2026-04-15", ALLOW).tweak(|r| {
            r.sender().valid_from = date("2026-04-15");
            r.sender().valid_until = date("2026-04-15");
        }),
        // Rule 2.
        Case::new(
            "sender on the hong kong side",
            np(),
            "2026-04-15",
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| r.sender().side = Side::HongKong),
        Case::new(
            "sender in a non-GBA city",
            np(),
            "2026-04-15",
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| r.sender().city = "beijing".to_owned()),
        Case::new(
            "sender in macao (not part of the contract)",
            np(),
            "2026-04-15",
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| r.sender().city = "macao".to_owned()),
        Case::new(
            "gba_cities is a parameter",
            np(),
            "2026-04-15",
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| {
            r.parameters.gba_cities.remove("shenzhen");
        }),
        Case::new("sender in another GBA city", np(), "2026-04-15", ALLOW)
            .tweak(|r| r.sender().city = "zhaoqing".to_owned()),
        // Rule 2: the sender's park is one of `sender_parks` (default: the Shenzhen Park).
        Case::new(
            "sender in no park",
            np(),
            "2026-04-15",
            Err(R::TenantNotInSenderPark),
        )
        .tweak(|r| r.sender().park = Park::None),
        Case::new(
            "sender in the hong kong park on the mainland side",
            pi(),
            "2026-04-15",
            Err(R::TenantNotInSenderPark),
        )
        .tweak(|r| r.sender().park = Park::HkPark),
        Case::new("sender_parks is a parameter", np(), "2026-04-15", ALLOW).tweak(|r| {
            r.sender().park = Park::None;
            r.parameters.sender_parks.insert(Park::None);
        }),
        Case::new(
            "sender_parks without the shenzhen park",
            np(),
            "2026-04-15",
            Err(R::TenantNotInSenderPark),
        )
        .tweak(|r| {
            r.parameters.sender_parks.clear();
            r.parameters.sender_parks.insert(Park::None);
        }),
        Case::new(
            "order: outside gba before not in sender park",
            np(),
            "2026-04-15",
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| {
            r.sender().city = "beijing".to_owned();
            r.sender().park = Park::None;
        }),
        // Rule 3.
        Case::new(
            "recipient unknown",
            np().recipient("nobody"),
            "2026-04-15",
            Err(R::RecipientNotWhitelisted),
        ),
        Case::new(
            "recipient suspended",
            np(),
            "2026-04-15",
            Err(R::RecipientSuspended),
        )
        .tweak(|r| r.recipient().status = Status::Suspended),
        Case::new(
            "recipient revoked",
            np(),
            "2026-04-15",
            Err(R::RecipientRevoked),
        )
        .tweak(|r| r.recipient().status = Status::Revoked),
        Case::new(
            "order: recipient revoked before not valid",
            np(),
            "2026-05-01",
            Err(R::RecipientRevoked),
        )
        .tweak(|r| {
            recipient_april(r);
            r.recipient().status = Status::Revoked;
        }),
        Case::new(
            "recipient day before first valid day",
            np(),
            "2026-03-31",
            Err(R::RecipientNotValid),
        )
        .tweak(recipient_april),
        Case::new("recipient first valid day", np(), "2026-04-01", ALLOW).tweak(recipient_april),
        Case::new("recipient last valid day", np(), "2026-04-30", ALLOW).tweak(recipient_april),
        Case::new(
            "recipient day after last valid day",
            np(),
            "2026-05-01",
            Err(R::RecipientNotValid),
        )
        .tweak(recipient_april),
        Case::new(
            "recipient opens at 16:00Z the day before",
            pi(),
            "2026-03-31T16:00:00Z",
            ALLOW,
        )
        .tweak(recipient_april),
        Case::new(
            "recipient closed at 15:59:59Z the day before",
            pi(),
            "2026-03-31T15:59:59Z",
            Err(R::RecipientNotValid),
        )
        .tweak(recipient_april),
        Case::new(
            "recipient open at 15:59:59Z on the last day",
            pi(),
            "2026-04-30T15:59:59Z",
            ALLOW,
        )
        .tweak(recipient_april),
        Case::new(
            "recipient closed at 16:00Z on the last day",
            pi(),
            "2026-04-30T16:00:00Z",
            Err(R::RecipientNotValid),
        )
        .tweak(recipient_april),
        Case::new(
            "recipient in the shenzhen park",
            np(),
            "2026-04-15",
            Err(R::RecipientNotInHkPark),
        )
        .tweak(|r| r.recipient().park = Park::ShenzhenPark),
        Case::new(
            "recipient in no park",
            np(),
            "2026-04-15",
            Err(R::RecipientNotInHkPark),
        )
        .tweak(|r| r.recipient().park = Park::None),
        Case::new(
            "sender as its own recipient",
            np().recipient(SENDER),
            "2026-04-15",
            Err(R::RecipientNotInHkPark),
        ),
        // Order: the earlier rule, and the earlier check inside a rule, decides.
        Case::new(
            "order: suspended before not valid",
            np(),
            "2028-06-01",
            Err(R::TenantSuspended),
        )
        .tweak(|r| r.sender().status = Status::Suspended),
        Case::new(
            "order: revoked before outside gba",
            np(),
            "2026-04-15",
            Err(R::TenantRevoked),
        )
        .tweak(|r| {
            r.sender().status = Status::Revoked;
            r.sender().side = Side::HongKong;
        }),
        Case::new(
            "order: not valid before outside gba",
            np(),
            "2025-06-01",
            Err(R::TenantNotValid),
        )
        .tweak(|r| r.sender().city = "beijing".to_owned()),
        Case::new(
            "order: rule 2 before rule 3",
            np().recipient("nobody"),
            "2026-04-15",
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| r.sender().city = "beijing".to_owned()),
        Case::new(
            "order: rule 1 before rule 3",
            np().sender("nobody").recipient("nobody"),
            "2026-04-15",
            Err(R::TenantNotWhitelisted),
        ),
        Case::new(
            "order: recipient suspended before not valid",
            np(),
            "2025-06-01",
            Err(R::TenantNotValid),
        )
        .tweak(|r| r.recipient().status = Status::Suspended),
        Case::new(
            "order: recipient suspended before not valid (sender valid)",
            np(),
            "2026-05-01",
            Err(R::RecipientSuspended),
        )
        .tweak(|r| {
            recipient_april(r);
            r.recipient().status = Status::Suspended;
        }),
        Case::new(
            "order: recipient not valid before not in park",
            np(),
            "2026-05-01",
            Err(R::RecipientNotValid),
        )
        .tweak(|r| {
            recipient_april(r);
            r.recipient().park = Park::None;
        }),
        Case::new(
            "order: rule 3 before rule 4",
            np().recipient("nobody").item("nothing"),
            "2026-04-15",
            Err(R::RecipientNotWhitelisted),
        ),
    ]
}

#[test]
fn identity_table() {
    let seen = run_table(&cases());
    assert!(!seen.is_empty());
}
