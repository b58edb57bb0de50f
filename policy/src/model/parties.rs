//! Who takes part: whitelisted tenants and carriers, and the regulators who read the log.

use std::collections::BTreeSet;

use time::Date;

use super::DataClass;

spelled! {
    /// The two sides of the boundary.
    pub enum Side {
        /// The Mainland (Shenzhen Park and the other Guangdong GBA cities).
        Mainland = "mainland",
        /// Hong Kong.
        HongKong = "hong_kong",
    }
}

spelled! {
    /// Which park of the Loop a tenant sits in.
    pub enum Park {
        /// The Shenzhen Park.
        ShenzhenPark = "shenzhen_park",
        /// The Hong Kong Park.
        HkPark = "hk_park",
        /// Neither.
        None = "none",
    }
}

spelled! {
    /// Status of a whitelist entry (tenant, carrier) or of an inventory or sample item.
    pub enum Status {
        /// In force.
        Approved = "approved",
        /// Temporarily withdrawn.
        Suspended = "suspended",
        /// Withdrawn for good.
        Revoked = "revoked",
    }
}

/// A whitelist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Tenant id, as in the SPIFFE identity `spiffe://<domain>/tenant/<id>`.
    pub id: String,
    /// Registered legal name.
    pub legal_name: String,
    /// The legal person it belongs to (defaults to its own id); rule 19 counts per legal entity.
    pub legal_entity: String,
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

/// A whitelisted logistics company that moves samples (rule S8), as in the SPIFFE identity
/// `spiffe://<domain>/carrier/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    /// Carrier id.
    pub id: String,
    /// Registered legal name.
    pub legal_name: String,
    /// Whitelist status.
    pub status: Status,
    /// First valid day (inclusive).
    pub valid_from: Date,
    /// Last valid day (inclusive).
    pub valid_until: Date,
}

spelled! {
    /// What part of the log a regulator may read (a record can be in several scopes).
    pub enum Scope {
        /// Transfers of personal information (`personal`, `sensitive_personal`,
        /// `human_genetic`).
        Personal = "personal",
        /// Anything that is human genetic resources information or material (`hgr = true`).
        Hgr = "hgr",
        /// Transfers of important data.
        Important = "important",
        /// Shipments of samples and their custody.
        Samples = "samples",
        /// Transfers of non-personal data.
        NonPersonal = "non_personal",
        /// Everything.
        All = "all",
    }
}

impl Scope {
    /// The scopes a data transfer's records belong to: its class's scope, and `hgr` when the
    /// item is human genetic resources information.
    pub fn of_transfer(class: DataClass, hgr: bool) -> Vec<Scope> {
        let by_class = if class.is_personal() {
            Scope::Personal
        } else if class == DataClass::Important {
            Scope::Important
        } else {
            Scope::NonPersonal
        };
        let mut scopes = vec![by_class];
        if hgr {
            scopes.push(Scope::Hgr);
        }
        scopes
    }

    /// The scopes a shipment's records belong to: `samples`, and `hgr` for HGR material.
    pub fn of_shipment(hgr: bool) -> Vec<Scope> {
        let mut scopes = vec![Scope::Samples];
        if hgr {
            scopes.push(Scope::Hgr);
        }
        scopes
    }
}

/// A regulator and what it may read (`[[regulator]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regulator {
    /// The principal's id: `spiffe://<domain>/regulator/<id>`.
    pub id: String,
    /// The authority it speaks for (free text).
    pub authority: String,
    /// The scopes it may read; `all` means every record.
    pub sees: BTreeSet<Scope>,
}

impl Regulator {
    /// Whether this regulator may read a record of `scope`.
    pub fn sees(&self, scope: Scope) -> bool {
        self.sees.contains(&Scope::All) || self.sees.contains(&scope)
    }

    /// Whether it may read a record that belongs to `scopes` (e.g. [`Scope::of_transfer`]): it
    /// may when it sees any one of them.
    pub fn sees_any(&self, scopes: &[Scope]) -> bool {
        scopes.iter().any(|scope| self.sees(*scope))
    }
}
