//! The registry objects of RULES.md, as validated values.
//!
//! Everything here is plain data: a [`Registry`] is built by [`crate::parse_bundle`] and only read by
//! [`crate::evaluate`]. Ids are kept exactly as the bundle spells them; city names are compared in
//! lower case.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::{Date, Month, Weekday};

/// One whole, validated policy bundle: the registry a decision is evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The `[parameters]` table, with defaults filled in.
    pub parameters: Parameters,
    /// The pilot's catalogue of data categories (`[catalogue] categories`).
    pub catalogue: BTreeSet<String>,
    /// Working-day calendars, one per side.
    pub calendars: Calendars,
    /// Whitelist entries by id.
    pub tenants: BTreeMap<String, Tenant>,
    /// Approved inventory items by id.
    pub items: BTreeMap<String, InventoryItem>,
    /// Contract filings by reference.
    pub filings: BTreeMap<String, ContractFiling>,
}

/// The `[parameters]` table: legal facts the rules take as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    /// Working days after `effective_on` within which a GBA Standard Contract must be filed.
    pub filing_working_days: u32,
    /// Cities of the Greater Bay Area, lower case.
    pub gba_cities: BTreeSet<String>,
    /// Month and day on which the rule 19 volume counters restart.
    pub volume_year_start: (Month, u8),
    /// Non-sensitive subjects per year from which `national_sc` or `certification` is needed.
    pub threshold_contract: u64,
    /// Non-sensitive subjects per year from which `security_assessment` is needed.
    pub threshold_assessment: u64,
    /// Sensitive subjects per year from which `security_assessment` is needed.
    pub threshold_sensitive_assessment: u64,
}

impl Default for Parameters {
    /// The defaults shown in `examples/policy.toml`.
    fn default() -> Self {
        Self {
            filing_working_days: 10,
            gba_cities: [
                "guangzhou",
                "shenzhen",
                "zhuhai",
                "foshan",
                "huizhou",
                "dongguan",
                "zhongshan",
                "jiangmen",
                "zhaoqing",
                "hong_kong",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            volume_year_start: (Month::January, 1),
            threshold_contract: 100_000,
            threshold_assessment: 1_000_000,
            threshold_sensitive_assessment: 10_000,
        }
    }
}

/// The two sides of the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The Mainland (Shenzhen Park and the other Guangdong GBA cities).
    Mainland,
    /// Hong Kong.
    HongKong,
}

/// Which park of the Loop a tenant sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Park {
    /// The Shenzhen Park.
    ShenzhenPark,
    /// The Hong Kong Park.
    HkPark,
    /// Neither.
    None,
}

/// Status of a whitelist entry or inventory item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In force.
    Approved,
    /// Temporarily withdrawn.
    Suspended,
    /// Withdrawn for good.
    Revoked,
}

impl Status {
    /// The bundle's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }
}

/// A whitelist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Tenant id, as in the SPIFFE identity `spiffe://<domain>/tenant/<id>`.
    pub id: String,
    /// Registered legal name.
    pub legal_name: String,
    /// Side of the boundary.
    pub side: Side,
    /// City, lower case.
    pub city: String,
    /// Park.
    pub park: Park,
    /// Whitelist status.
    pub status: Status,
    /// First valid day (inclusive, UTC+8).
    pub valid_from: Date,
    /// Last valid day (inclusive, UTC+8).
    pub valid_until: Date,
    /// Critical information infrastructure operator.
    pub ciio: bool,
}

/// Class of the data an inventory item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// No personal information.
    NonPersonal,
    /// Personal information.
    Personal,
    /// Sensitive personal information.
    SensitivePersonal,
    /// Human genetic resources information (personal and sensitive).
    HumanGenetic,
    /// Important data: never through the green channel.
    Important,
}

impl DataClass {
    /// Whether rules 11-19 apply (personal, sensitive personal or human genetic data).
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            Self::Personal | Self::SensitivePersonal | Self::HumanGenetic
        )
    }

    /// Whether the data counts as sensitive personal information (rules 17 and 19).
    pub fn is_sensitive(self) -> bool {
        matches!(self, Self::SensitivePersonal | Self::HumanGenetic)
    }

    /// Parses the bundle spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::NonPersonal,
            Self::Personal,
            Self::SensitivePersonal,
            Self::HumanGenetic,
            Self::Important,
        ]
        .into_iter()
        .find(|class| class.as_str() == text)
    }

    /// The bundle spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NonPersonal => "non_personal",
            Self::Personal => "personal",
            Self::SensitivePersonal => "sensitive_personal",
            Self::HumanGenetic => "human_genetic",
            Self::Important => "important",
        }
    }
}

/// An entry of the approved data inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryItem {
    /// Item id, sent as `Loop-Inventory-Item`.
    pub id: String,
    /// The tenant that may send it.
    pub owner: String,
    /// Tenants that may receive it.
    pub recipients: BTreeSet<String>,
    /// Class of the data.
    pub data_class: DataClass,
    /// Catalogue categories the data belongs to.
    pub categories: BTreeSet<String>,
    /// Purpose codes the data may be sent for.
    pub purposes: BTreeSet<String>,
    /// Largest body allowed in one transfer, in bytes.
    pub max_transfer_bytes: u64,
    /// Days the recipient may keep the data before it must be destroyed.
    pub retention_days: u32,
    /// Approval status.
    pub status: Status,
    /// First valid day (inclusive).
    pub valid_from: Date,
    /// Last valid day (inclusive).
    pub valid_until: Date,
    /// Human genetic resources filing reference (needed for `human_genetic`).
    pub hgr_filing: Option<String>,
}

/// The legal route a cross-boundary personal information transfer is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// GBA Standard Contract (no head-count cap).
    GbaSc,
    /// The national standard contract.
    NationalSc,
    /// Personal information protection certification.
    Certification,
    /// CAC security assessment.
    SecurityAssessment,
}

impl Route {
    /// The bundle spelling (`gba_sc`, `national_sc`, `certification`, `security_assessment`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GbaSc => "gba_sc",
            Self::NationalSc => "national_sc",
            Self::Certification => "certification",
            Self::SecurityAssessment => "security_assessment",
        }
    }
}

/// Where a filing was lodged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// Guangdong Cyberspace Administration.
    GuangdongCac,
    /// Hong Kong's Digital Policy Office.
    Dpo,
}

/// Status of a contract filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingStatus {
    /// In force.
    Effective,
    /// Suspended.
    Suspended,
    /// Terminated.
    Terminated,
}

/// A GBA Standard Contract (or other route) and its filing.
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
    /// Day the contract takes effect.
    pub effective_on: Date,
    /// Day it was filed, if it has been.
    pub filed_on: Option<Date>,
    /// Where it was filed.
    pub authority: Authority,
    /// Day the personal information protection impact assessment was completed.
    pub pia_completed_on: Option<Date>,
    /// Categories the contract covers.
    pub categories: BTreeSet<String>,
    /// Purposes the contract covers.
    pub purposes: BTreeSet<String>,
    /// Whether sensitive personal information is covered.
    pub covers_sensitive: bool,
    /// Whether separate consent was obtained (needed for sensitive data).
    pub separate_consent: bool,
    /// Status.
    pub status: FilingStatus,
}

/// The working-day calendars of both sides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calendars {
    /// `[calendar.mainland]`.
    pub mainland: Calendar,
    /// `[calendar.hong_kong]`.
    pub hong_kong: Calendar,
}

impl Calendars {
    /// The calendar of one side.
    pub fn side(&self, side: Side) -> &Calendar {
        match side {
            Side::Mainland => &self.mainland,
            Side::HongKong => &self.hong_kong,
        }
    }
}

/// One side's calendar: weekend days, public holidays and make-up working days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Days of the week that are not working days (unless listed in `workdays`).
    pub weekend: BTreeSet<WeekdayKey>,
    /// Public holidays.
    pub holidays: BTreeSet<Date>,
    /// Make-up working days that fall on a weekend.
    pub workdays: BTreeSet<Date>,
}

impl Default for Calendar {
    /// Saturday and Sunday off, no holidays.
    fn default() -> Self {
        Self {
            weekend: [WeekdayKey(Weekday::Saturday), WeekdayKey(Weekday::Sunday)]
                .into_iter()
                .collect(),
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
        }
    }
}

/// A [`Weekday`] that can live in an ordered set (Monday first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayKey(pub Weekday);

impl Ord for WeekdayKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .number_days_from_monday()
            .cmp(&other.0.number_days_from_monday())
    }
}

impl PartialOrd for WeekdayKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
