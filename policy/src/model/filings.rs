//! Contract filings (the routes for personal information and their filings) and human genetic
//! resources approvals.

use std::collections::BTreeSet;

use time::Date;

use super::Side;

spelled! {
    /// The legal route a cross-boundary transfer is filed under.
    pub enum Route {
        /// GBA Standard Contract (no head-count cap).
        GbaSc = "gba_sc",
        /// The national standard contract.
        NationalSc = "national_sc",
        /// Personal information protection certification.
        Certification = "certification",
        /// CAC security assessment (also covers important data).
        SecurityAssessment = "security_assessment",
    }
}

spelled! {
    /// A party to a contract filing.
    pub enum Party {
        /// The personal information processor: the sender, on the Mainland.
        Processor = "processor",
        /// The recipient, in Hong Kong.
        Recipient = "recipient",
    }
}

spelled! {
    /// Where a party files.
    pub enum Authority {
        /// The Cyberspace Administration of China's Guangdong office (Mainland parties).
        GuangdongCac = "guangdong_cac",
        /// Hong Kong's Digital Policy Office (Hong Kong parties).
        Dpo = "dpo",
    }
}

impl Authority {
    /// The authority a party on `side` files with: each party files in its own place.
    pub fn of_side(side: Side) -> Self {
        match side {
            Side::Mainland => Self::GuangdongCac,
            Side::HongKong => Self::Dpo,
        }
    }
}

/// One filing a route needs (`[parameters.filing_parties]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilingParty {
    /// Who files.
    pub party: Party,
    /// With whom.
    pub authority: Authority,
}

/// One party's filing of a contract (an element of `filings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilingEntry {
    /// Who filed (or has to).
    pub party: Party,
    /// With whom.
    pub authority: Authority,
    /// The day it was filed; `None` while not filed.
    pub filed_on: Option<Date>,
    /// The number the authority gave the filing.
    pub number: Option<String>,
}

spelled! {
    /// Status of a contract filing.
    pub enum FilingStatus {
        /// In force.
        Effective = "effective",
        /// Suspended.
        Suspended = "suspended",
        /// Terminated.
        Terminated = "terminated",
    }
}

/// A cross-boundary route for personal information (or important data) and its filings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFiling {
    /// Filing reference, sent as `Loop-Contract-Filing`.
    pub reference: String,
    /// Legal route.
    pub route: Route,
    /// The personal information processor (the sender).
    pub processor: String,
    /// The recipient.
    pub recipient: String,
    /// Day the contract (or approval) takes effect.
    pub effective_on: Date,
    /// Last day it is valid (rule 17a); required for `certification` and
    /// `security_assessment`.
    pub valid_until: Option<Date>,
    /// Each party's filing, at most one per party.
    pub filings: Vec<FilingEntry>,
    /// Day the personal information protection impact assessment was completed.
    pub pia_completed_on: Option<Date>,
    /// SHA-256 of the impact assessment report (64 hex digits, as written).
    pub pia_report_sha256: Option<String>,
    /// The last supplement that changed scope: the assessment must not predate it (rule 15).
    pub scope_changed_on: Option<Date>,
    /// Categories the contract covers.
    pub categories: BTreeSet<String>,
    /// Purposes the contract covers.
    pub purposes: BTreeSet<String>,
    /// Processing methods the contract covers.
    pub methods: BTreeSet<String>,
    /// Whether sensitive personal information is covered.
    pub covers_sensitive: bool,
    /// Whether separate consent was obtained (PIPL art. 39; rule 17).
    pub separate_consent: bool,
    /// Status.
    pub status: FilingStatus,
}

impl ContractFiling {
    /// The filing of `party`, if the bundle lists one.
    pub fn entry(&self, party: Party) -> Option<&FilingEntry> {
        self.filings.iter().find(|entry| entry.party == party)
    }
}

spelled! {
    /// What a human genetic resources approval allows.
    pub enum HgrKind {
        /// Filing for providing HGR information abroad.
        InformationFiling = "information_filing",
        /// The information backup that goes with it.
        InformationBackup = "information_backup",
        /// Approval to take HGR materials abroad.
        ExportApproval = "export_approval",
    }
}

spelled! {
    /// Who grants human genetic resources approvals.
    pub enum HgrAuthority {
        /// The National Health Commission (since 1 May 2024).
        Nhc = "nhc",
    }
}

spelled! {
    /// Status of an HGR approval.
    pub enum ApprovalStatus {
        /// In force (inside its window).
        Effective = "effective",
        /// Withdrawn.
        Revoked = "revoked",
    }
}

/// A human genetic resources filing, backup or export approval (`[[hgr_approval]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HgrApproval {
    /// Its reference.
    pub reference: String,
    /// What it allows.
    pub kind: HgrKind,
    /// Who granted it.
    pub authority: HgrAuthority,
    /// The tenant that holds it.
    pub holder: String,
    /// The inventory and sample item ids it covers.
    pub covers: BTreeSet<String>,
    /// First valid day (inclusive).
    pub valid_from: Date,
    /// Last valid day (inclusive).
    pub valid_until: Date,
    /// Status.
    pub status: ApprovalStatus,
}

impl HgrApproval {
    /// Whether it counts on `today` for `holder` and `item`: effective, inside its window, held
    /// by `holder` and covering `item`.
    pub fn counts_for(&self, holder: &str, item: &str, today: Date) -> bool {
        self.status == ApprovalStatus::Effective
            && self.valid_from <= today
            && today <= self.valid_until
            && self.holder == holder
            && self.covers.contains(item)
    }
}
