//! The registry objects of RULES.md (second version), as validated values.
//!
//! Everything here is plain data: a [`Registry`] is built by [`crate::parse_bundle`] and only read by
//! [`crate::evaluate`] and the gateway. Ids are kept exactly as the bundle spells them; city names
//! are compared in lower case.

/// An enum whose values are written as fixed words in the bundle, in records or in requests:
/// generates `ALL`, `as_str`, `parse` and serde in the same snake_case spelling. Also used by
/// [`crate::custody`] for the words of custody events.
macro_rules! spelled {
    ($(#[$meta:meta])* pub enum $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $text:literal, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $( $(#[$vdoc])* $variant, )* }

        impl $name {
            /// Every value, in the order the documentation lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The written spelling (in bundles, records and requests alike).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses the written spelling.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.as_str() == text)
            }
        }

        impl crate::model::Spelled for $name {
            const ALL: &'static [Self] = $name::ALL;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }
    };
}

pub(crate) use spelled;

mod calendar;
mod filings;
mod items;
mod parties;

use std::collections::{BTreeMap, BTreeSet};

use time::Month;

pub use calendar::{Calendar, Calendars, WeekdayKey};
pub use filings::{
    ApprovalStatus, Authority, ContractFiling, FilingEntry, FilingParty, FilingStatus, HgrApproval,
    HgrAuthority, HgrKind, Party, Route,
};
pub use items::{DataClass, InventoryItem, LegalBasis, SampleItem};
pub use parties::{Carrier, Park, Regulator, Scope, Side, Status, Tenant};

/// What the bundle reader needs of a [`spelled!`] enum.
pub(crate) trait Spelled: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

/// One whole, validated policy bundle: the registry a decision is evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The `[parameters]` table, with defaults filled in.
    pub parameters: Parameters,
    /// The pilot's catalogue of data categories (`[catalogue] categories`).
    pub catalogue: BTreeSet<String>,
    /// Working-day calendars, one per side.
    pub calendars: Calendars,
    /// Whitelist entries (`[[tenant]]`) by id.
    pub tenants: BTreeMap<String, Tenant>,
    /// Whitelisted logistics companies (`[[carrier]]`) by id.
    pub carriers: BTreeMap<String, Carrier>,
    /// The data list (`[[inventory_item]]`) by id.
    pub items: BTreeMap<String, InventoryItem>,
    /// The logistics list (`[[sample_item]]`) by id.
    pub sample_items: BTreeMap<String, SampleItem>,
    /// Contract filings (`[[contract_filing]]`) by reference.
    pub filings: BTreeMap<String, ContractFiling>,
    /// Human genetic resources approvals (`[[hgr_approval]]`) by reference.
    pub hgr_approvals: BTreeMap<String, HgrApproval>,
    /// Regulators (`[[regulator]]`) by id (the principal's id).
    pub regulators: BTreeMap<String, Regulator>,
}

impl Registry {
    /// The legal entity tenant `id` belongs to (its `legal_entity`, which defaults to its own
    /// id); `None` for an unknown tenant. Rule 19 counts volume per legal entity.
    pub fn legal_entity_of(&self, id: &str) -> Option<&str> {
        self.tenants.get(id).map(|t| t.legal_entity.as_str())
    }

    /// The ids of every tenant of legal entity `entity`, in id order (the gateway sums their
    /// rule 19 counters). Empty when no tenant belongs to it.
    pub fn tenants_of_entity<'a>(&'a self, entity: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tenants
            .values()
            .filter(move |t| t.legal_entity == entity)
            .map(|t| t.id.as_str())
    }

    /// Whether regulator `id` may see a record of `scope`: a regulator not listed sees nothing;
    /// one whose `sees` has `all` sees everything.
    pub fn regulator_sees(&self, id: &str, scope: Scope) -> bool {
        self.regulators.get(id).is_some_and(|r| r.sees(scope))
    }
}

/// The `[parameters]` table: legal facts the rules take as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    /// Working days after `effective_on` within which each party must file (rule 14).
    pub filing_working_days: u32,
    /// Cities of the Greater Bay Area, lower case.
    pub gba_cities: BTreeSet<String>,
    /// Parks a sender may sit in (rule 2; the green channel is cross-park).
    pub sender_parks: BTreeSet<Park>,
    /// Month and day on which the rule 19 volume counters restart.
    pub volume_year_start: (Month, u8),
    /// Non-sensitive subjects per year from which `national_sc` or `certification` is needed.
    pub threshold_contract: u64,
    /// Non-sensitive subjects per year from which `security_assessment` is needed.
    pub threshold_assessment: u64,
    /// Sensitive subjects per year from which `security_assessment` is needed.
    pub threshold_sensitive_assessment: u64,
    /// Highest biosafety level a sample item may have to use the channel (rule S6).
    pub max_biosafety_level: u8,
    /// How far a lifecycle or custody event's time may lead the gateway's clock (rule 20, S10).
    pub clock_skew_secs: u64,
    /// Hours a shipment may wait for its next handover before it is overdue (rule S12).
    pub custody_handover_hours: u64,
    /// Which parties file, with which authority, per route (rule 14). Every route has an
    /// entry (an empty list: the route needs no filing).
    pub filing_parties: BTreeMap<Route, Vec<FilingParty>>,
}

impl Parameters {
    /// The filings route `route` needs, in the order rule 14 checks them.
    pub fn filing_parties(&self, route: Route) -> &[FilingParty] {
        self.filing_parties.get(&route).map_or(&[], Vec::as_slice)
    }

    /// The default `filing_parties`: `gba_sc` the processor with `guangdong_cac` and the
    /// recipient with `dpo`; `national_sc` the processor with `guangdong_cac`; `certification`
    /// and `security_assessment` none.
    pub fn default_filing_parties() -> BTreeMap<Route, Vec<FilingParty>> {
        let processor = FilingParty {
            party: Party::Processor,
            authority: Authority::GuangdongCac,
        };
        let recipient = FilingParty {
            party: Party::Recipient,
            authority: Authority::Dpo,
        };
        [
            (Route::GbaSc, vec![processor, recipient]),
            (Route::NationalSc, vec![processor]),
            (Route::Certification, Vec::new()),
            (Route::SecurityAssessment, Vec::new()),
        ]
        .into_iter()
        .collect()
    }
}

impl Default for Parameters {
    /// The defaults RULES.md and the reference bundle show.
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
            sender_parks: [Park::ShenzhenPark].into_iter().collect(),
            volume_year_start: (Month::January, 1),
            threshold_contract: 100_000,
            threshold_assessment: 1_000_000,
            threshold_sensitive_assessment: 10_000,
            max_biosafety_level: 2,
            clock_skew_secs: 300,
            custody_handover_hours: 48,
            filing_parties: Self::default_filing_parties(),
        }
    }
}
