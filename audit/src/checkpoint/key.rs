//! Ed25519 log keys in the text formats of Go's `golang.org/x/mod/sumdb/note`:
//! signer keys `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>` and verifier keys
//! `<name>+<hex key id>+<base64(<type> || public key)>`, where the signature type byte is 0x01
//! for a log's note signatures and 0x04 for a witness's `cosignature/v1` (see `cosignature`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::error::{Error, Result};

/// The signature type byte for Ed25519 note signatures (C2SP `signed-note`).
pub(crate) const ALG_ED25519: u8 = 0x01;

/// The signature type byte for timestamped Ed25519 checkpoint cosignatures (C2SP
/// `tlog-cosignature`, `cosignature/v1`).
pub(crate) const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The 4-byte key id of a log key: the first 4 bytes of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &[u8]) -> u32 {
    typed_key_id(name, ALG_ED25519, public_key)
}

/// The key id for signature type `alg`: `SHA-256(name || 0x0A || alg || public key)[:4]`.
pub(crate) fn typed_key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[alg]);
    ctx.update(public_key);
    let d = ctx.finish();
    let b = d.as_ref();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A key name is non-empty UTF-8 without Unicode white space and without `+`.
pub fn check_key_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            "key name",
            format!("{name:?}: use a non-empty name without spaces or '+', e.g. the log's origin"),
        ));
    }
    Ok(())
}

/// The log's Ed25519 signing key with its name. Its `Debug` never shows the secret.
pub struct SigningKey {
    name: String,
    seed: [u8; 32],
    pair: Ed25519KeyPair,
    id: u32,
}

impl SigningKey {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<Self> {
        check_key_name(name)?;
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::invalid("signer key", "the system random generator failed"))?;
        Self::from_seed(name, seed)
    }

    /// A second handle on the same key (the writer threads take one each time the log's index
    /// is reopened).
    pub(crate) fn duplicate(&self) -> Result<Self> {
        Self::from_seed(&self.name, self.seed)
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|e| Error::invalid("signer key", format!("not an Ed25519 seed: {e}")))?;
        let id = key_id(name, pair.public_key().as_ref());
        Ok(Self {
            name: name.to_owned(),
            seed,
            pair,
            id,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>` (surrounding white space
    /// ignored), checking that the id matches the key.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid("signer key", why.to_owned());
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("expected a line starting with PRIVATE+KEY+"))?;
        let (name, id, data) = split_key(rest).ok_or_else(|| bad("expected name+id+key"))?;
        check_key_name(name)?;
        let data = B64.decode(data).map_err(|_| bad("key is not base64"))?;
        let [ALG_ED25519, seed @ ..] = data.as_slice() else {
            return Err(bad("not an Ed25519 key (algorithm byte 0x01)"));
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| bad("an Ed25519 seed has 32 bytes"))?;
        let key = Self::from_seed(name, seed)?;
        if key.id != id {
            return Err(bad("key id does not match the key; the file is damaged"));
        }
        Ok(key)
    }

    /// Writes the key to a new file `path` (mode 0600; fails if the file exists), synced.
    pub fn create_file(&self, path: &std::path::Path) -> Result<()> {
        let text = format!("{}\n", self.to_text());
        crate::store::fsio::create_exclusive(path, text.as_bytes(), 0o600).map(drop)
    }

    /// Reads a key file written by [`SigningKey::create_file`] (or Go's `note` tooling). A file
    /// that group or others may read is refused, as ssh refuses such keys.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::invalid(
                "signer key",
                format!(
                    "{} is readable by group or others; chmod 600 it",
                    path.display()
                ),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Self::parse(&text)
    }

    /// The signer key text (a secret: store it with mode 0600).
    pub fn to_text(&self) -> String {
        let mut data = Vec::with_capacity(33);
        data.push(ALG_ED25519);
        data.extend_from_slice(&self.seed);
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(data)
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.verifier_of_type(ALG_ED25519)
    }

    /// The verifier key of this key pair for signature type `alg` (its id differs per type).
    pub(crate) fn verifier_of_type(&self, alg: u8) -> VerifierKey {
        let mut public = [0u8; 32];
        public.copy_from_slice(self.pair.public_key().as_ref());
        VerifierKey {
            name: self.name.clone(),
            alg,
            id: typed_key_id(&self.name, alg, &public),
            public,
        }
    }

    /// Signs `msg` (Ed25519, deterministic).
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

/// A public verifier key: a log's (signature type 0x01), or inside a
/// [`crate::WitnessVerifierKey`] a witness's (0x04).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    alg: u8,
    id: u32,
    public: [u8; 32],
}

impl VerifierKey {
    /// Parses `<name>+<hex id>+<base64(0x01 || public key)>` (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_typed(text, ALG_ED25519, "verifier key")
    }

    /// Parses a verifier key whose signature type byte must be `alg`; `what` names it in errors.
    pub(crate) fn parse_typed(text: &str, alg: u8, what: &'static str) -> Result<Self> {
        let bad = |why: String| Error::invalid(what, why);
        let (name, id, data) = split_key(text.trim())
            .ok_or_else(|| bad("expected <name>+<hex id>+<base64 key>".into()))?;
        check_key_name(name)?;
        let data = B64
            .decode(data)
            .map_err(|_| bad("key is not base64".into()))?;
        let Some((&found, public)) = data.split_first() else {
            return Err(bad("the key is empty".into()));
        };
        if found != alg {
            return Err(bad(format!(
                "signature type byte is 0x{found:02x}, expected 0x{alg:02x} ({}); check that \
                 you copied the right key",
                type_name(alg)
            )));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| bad("an Ed25519 public key has 32 bytes".into()))?;
        if typed_key_id(name, alg, &public) != id {
            return Err(bad("key id does not match the key; check the copy".into()));
        }
        Ok(Self {
            name: name.to_owned(),
            alg,
            id,
            public,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Checks an Ed25519 signature of `msg`.
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public)
            .verify(msg, sig)
            .is_ok()
    }
}

/// What a signature type byte means, for error messages.
fn type_name(alg: u8) -> &'static str {
    match alg {
        ALG_ED25519 => "an Ed25519 log key",
        ALG_COSIGNATURE_V1 => "an Ed25519 cosignature/v1 witness key",
        _ => "an unsupported key type",
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = Vec::with_capacity(33);
        data.push(self.alg);
        data.extend_from_slice(&self.public);
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(data))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

/// Splits `name+hexid+data` and parses the 8-digit hex id.
fn split_key(s: &str) -> Option<(&str, u32, &str)> {
    let mut parts = s.splitn(3, '+');
    let name = parts.next()?;
    let id = parts.next()?;
    let data = parts.next()?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((name, u32::from_str_radix(id, 16).ok()?, data))
}
