//! Who is calling: the principal named by a client certificate's SPIFFE URI SAN
//! (`spiffe://<trust-domain>/<role>/<id>`, SPEC.md section 1).

use std::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The four roles of SPEC.md section 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// A park tenant: sends and receives transfers, declares and receives shipments.
    Tenant,
    /// A logistics company: reports the handovers of the shipments it carries.
    Carrier,
    /// A regulator: reads the audit trail, never writes.
    Regulator,
    /// A park operator: changes the registry, never the log's past.
    Admin,
}

impl Role {
    /// The path segment that names the role.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Carrier => "carrier",
            Self::Regulator => "regulator",
            Self::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "tenant" => Some(Self::Tenant),
            "carrier" => Some(Self::Carrier),
            "regulator" => Some(Self::Regulator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Principal {
    /// The role.
    pub role: Role,
    /// The id within the role (a tenant id for tenants).
    pub id: String,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.role.as_str(), self.id)
    }
}

/// Why a certificate names no principal: always `401 auth.bad_identity`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IdentityError {
    /// The certificate could not be parsed.
    #[error("the client certificate cannot be parsed")]
    Unparsable,
    /// No `spiffe://` URI SAN.
    #[error("the client certificate has no spiffe:// URI SAN; issue it with exactly one")]
    Missing,
    /// More than one `spiffe://` URI SAN: ambiguous, refused.
    #[error("the client certificate has {0} spiffe:// URI SANs; issue it with exactly one")]
    Several(usize),
    /// The SPIFFE id belongs to another trust domain.
    #[error("the client certificate's SPIFFE id {found:?} is not in trust domain {expected:?}")]
    WrongTrustDomain {
        /// The SAN found.
        found: String,
        /// The configured trust domain.
        expected: String,
    },
    /// The path is not `/<role>/<id>` with a known role and a valid id.
    #[error(
        "the client certificate's SPIFFE id {0:?} is not spiffe://<trust-domain>/<tenant|carrier|regulator|admin>/<id>"
    )]
    BadPath(String),
}

/// The principal of a DER client certificate, for a gateway whose trust domain is `trust_domain`.
pub(crate) fn principal_from_cert(
    der: &[u8],
    trust_domain: &str,
) -> Result<Principal, IdentityError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| IdentityError::Unparsable)?;
    let san = cert
        .subject_alternative_name()
        .map_err(|_| IdentityError::Unparsable)?;
    let spiffe: Vec<&str> = san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri)
                if uri
                    .get(..9)
                    .is_some_and(|s| s.eq_ignore_ascii_case("spiffe://")) =>
            {
                Some(*uri)
            }
            _ => None,
        })
        .collect();
    match spiffe.as_slice() {
        [] => Err(IdentityError::Missing),
        [one] => parse_spiffe_id(one, trust_domain),
        several => Err(IdentityError::Several(several.len())),
    }
}

/// Parses `spiffe://<trust_domain>/<role>/<id>`. The id is one path segment of letters, digits,
/// `.`, `-` and `_` (the SPIFFE path alphabet), at most 128 characters.
pub(crate) fn parse_spiffe_id(uri: &str, trust_domain: &str) -> Result<Principal, IdentityError> {
    let rest = uri
        .strip_prefix("spiffe://")
        .ok_or_else(|| IdentityError::BadPath(uri.to_owned()))?;
    let (domain, path) = rest.split_once('/').unwrap_or((rest, ""));
    if domain != trust_domain {
        return Err(IdentityError::WrongTrustDomain {
            found: uri.to_owned(),
            expected: trust_domain.to_owned(),
        });
    }
    let bad = || IdentityError::BadPath(uri.to_owned());
    let (role, id) = path.split_once('/').ok_or_else(bad)?;
    let role = Role::parse(role).ok_or_else(bad)?;
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !id_ok {
        return Err(bad());
    }
    Ok(Principal {
        role,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests;
