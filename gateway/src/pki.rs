//! A small certificate authority for dev mode and tests (rcgen): the park CA, the gateway's server
//! certificate and SPIFFE client certificates. Production parks bring their own PKI; loopgate
//! only verifies against it.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};

/// What went wrong making or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The system random number generator failed.
    #[error("the system random number generator failed; check /dev/urandom")]
    Random,
    /// rcgen refused the parameters or the key (a bug or unreadable key material).
    #[error("cannot make the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The CA files are not a certificate and PKCS#8 key that belong together.
    #[error(
        "the dev CA files are not a PEM certificate and its PKCS#8 key: {0}; delete the dev folder to make a new one"
    )]
    BadCa(String),
}

/// A certificate and its private key, both PEM (the key is PKCS#8).
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
    /// Its serial number (random, 16 bytes), for revocation lists.
    pub serial: Vec<u8>,
}

/// A certificate authority that can issue server and client certificates.
pub struct DevCa {
    cert_pem: String,
    key: KeyPair,
}

impl DevCa {
    /// Makes a new self-signed CA valid for ten years from `now` (minus a day for clock skew).
    pub fn generate(common_name: &str, now: OffsetDateTime) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3_650);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Loads a CA from its PEM certificate and PKCS#8 PEM key.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadCa(e.to_string()))?;
        Issuer::from_ca_cert_pem(cert_pem, &key).map_err(|e| PkiError::BadCa(e.to_string()))?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            key,
        })
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA key (PKCS#8 PEM).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A server certificate for `dns` names and `ips`, valid for a year from `now`.
    pub fn issue_server(
        &self,
        dns: &[&str],
        ips: &[IpAddr],
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let mut sans = Vec::new();
        for name in dns {
            sans.push(SanType::DnsName((*name).try_into()?));
        }
        sans.extend(ips.iter().copied().map(SanType::IpAddress));
        let common_name = dns.first().copied().unwrap_or("loopgate");
        self.issue(common_name, sans, ExtendedKeyUsagePurpose::ServerAuth, now)
    }

    /// A client certificate whose one URI SAN is `spiffe_id`, valid for a year from `now`.
    pub fn issue_client(&self, spiffe_id: &str, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let common_name = spiffe_id.rsplit('/').next().unwrap_or(spiffe_id);
        let sans = vec![SanType::URI(spiffe_id.try_into()?)];
        self.issue(common_name, sans, ExtendedKeyUsagePurpose::ClientAuth, now)
    }

    /// A client certificate with arbitrary URI SANs (tests use it for refused identities).
    pub fn issue_client_with_uris(
        &self,
        common_name: &str,
        uris: &[&str],
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let mut sans = Vec::new();
        for uri in uris {
            sans.push(SanType::URI((*uri).try_into()?));
        }
        self.issue(common_name, sans, ExtendedKeyUsagePurpose::ClientAuth, now)
    }

    fn issue(
        &self,
        common_name: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)
            .map_err(|e| PkiError::BadCa(e.to_string()))?;
        let key = KeyPair::generate()?;
        let mut serial = [0u8; 16];
        SystemRandom::new()
            .fill(&mut serial)
            .map_err(|_| PkiError::Random)?;
        serial[0] &= 0x7f; // a positive DER integer
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.distinguished_name = name(common_name);
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(365);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial.to_vec(),
        })
    }

    /// A CRL (PEM) revoking the certificates with these serials, valid for 30 days from `now`.
    pub fn revocation_list(
        &self,
        serials: &[&[u8]],
        crl_number: u64,
        now: OffsetDateTime,
    ) -> Result<String, PkiError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)
            .map_err(|e| PkiError::BadCa(e.to_string()))?;
        let params = CertificateRevocationListParams {
            this_update: now - Duration::hours(1),
            next_update: now + Duration::days(30),
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: now - Duration::minutes(5),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&issuer)?.pem()?)
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "loopgate dev mode");
    name
}
