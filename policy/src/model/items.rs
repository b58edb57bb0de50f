//! The data list (`[[inventory_item]]`) and the logistics list (`[[sample_item]]`).

use std::collections::BTreeSet;

use time::Date;

use super::Status;

spelled! {
    /// Class of the data an inventory item holds.
    pub enum DataClass {
        /// No personal information.
        NonPersonal = "non_personal",
        /// Personal information.
        Personal = "personal",
        /// Sensitive personal information.
        SensitivePersonal = "sensitive_personal",
        /// Human genetic resources information (personal and sensitive).
        HumanGenetic = "human_genetic",
        /// Important data: only with a security assessment (rule 8).
        Important = "important",
    }
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
}

spelled! {
    /// The legal basis for processing personal information (PIPL article 13).
    pub enum LegalBasis {
        /// The individuals' consent (the default): needs separate consent to go abroad.
        Consent = "consent",
        /// Necessary for a contract the individual is a party to.
        Contract = "contract",
        /// Human resources management.
        HrManagement = "hr_management",
        /// A statutory duty.
        StatutoryDuty = "statutory_duty",
        /// A public health emergency or to protect life and property.
        Emergency = "emergency",
        /// Information the individual disclosed or that was lawfully disclosed.
        PublicDisclosure = "public_disclosure",
    }
}

/// An entry of the data list.
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
    /// The legal basis, for personal classes (`consent` when the bundle omits it); `None` for
    /// `non_personal` and `important`.
    pub legal_basis: Option<LegalBasis>,
    /// Whether the data is human genetic resources information (defaults to true for
    /// `human_genetic`).
    pub hgr: bool,
    /// References of the `[[hgr_approval]]` entries rule 9 may use.
    pub hgr_approvals: BTreeSet<String>,
    /// Catalogue categories the data belongs to.
    pub categories: BTreeSet<String>,
    /// Purpose codes the data may be sent for.
    pub purposes: BTreeSet<String>,
    /// Processing methods the recipient applies (e.g. `storage`, `analysis`); empty when none
    /// are declared.
    pub methods: BTreeSet<String>,
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
}

impl InventoryItem {
    /// Whether the item's personal information rests on consent (rule 17).
    pub fn is_consent_based(&self) -> bool {
        self.legal_basis == Some(LegalBasis::Consent)
    }
}

/// An entry of the logistics list: samples a sender may ship (rules S1-S12, evaluated by the
/// shipment rules; parsed and validated here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleItem {
    /// Sample item id.
    pub id: String,
    /// The tenant that may ship it.
    pub owner: String,
    /// Tenants that may receive it.
    pub recipients: BTreeSet<String>,
    /// E.g. `whole_blood`, `tissue`, `dna_extract`, `cell_line`.
    pub sample_type: String,
    /// E.g. `tube`, `vial`.
    pub unit: String,
    /// Most units per shipment.
    pub max_quantity: u64,
    /// Biosafety level, 1 to 4.
    pub biosafety_level: u8,
    /// Whether the samples are human genetic resources material (needs an export approval).
    pub hgr: bool,
    /// References of the `[[hgr_approval]]` entries rule S7 may use.
    pub hgr_approvals: BTreeSet<String>,
    /// Purpose codes the samples may be shipped for.
    pub purposes: BTreeSet<String>,
    /// The recipient's facility inside the Hong Kong Park where they must be stored.
    pub storage_facility: String,
    /// Days the recipient may keep them.
    pub retention_days: u32,
    /// Approval status.
    pub status: Status,
    /// First valid day (inclusive).
    pub valid_from: Date,
    /// Last valid day (inclusive).
    pub valid_until: Date,
}
