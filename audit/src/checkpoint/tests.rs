//! Known answers from Go's `golang.org/x/mod/sumdb/note` examples and checkpoint round trips.

use super::*;

// From golang.org/x/mod/sumdb/note example_test.go.
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_NOTE_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn signs_exactly_as_go_note_does() {
    let key = SigningKey::parse(GO_SKEY).unwrap();
    assert_eq!(key.verifier().to_string(), GO_VKEY);
    assert_eq!(key.to_text(), GO_SKEY);
    let signed = note::sign(GO_TEXT, &key).unwrap();
    assert_eq!(signed, format!("{GO_TEXT}\n{GO_NOTE_SIG}"));
    let vkey = VerifierKey::parse(GO_VKEY).unwrap();
    assert_eq!(note::open(&signed, &vkey).unwrap(), GO_TEXT);
}

#[test]
fn checkpoint_round_trips_and_rejects_tampering() {
    let key = SigningKey::generate("example.com/log").unwrap();
    let cp = Checkpoint::sign("example.com/log", 8, [5; 32], &key).unwrap();
    assert!(cp.text().starts_with("example.com/log\n8\nBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=\n\n\u{2014} example.com/log "));
    let opened = Checkpoint::open(cp.text(), &key.verifier()).unwrap();
    assert_eq!(opened, cp);
    let forged = cp.text().replacen("\n8\n", "\n9\n", 1);
    assert!(Checkpoint::open(&forged, &key.verifier()).is_err());
    let other = SigningKey::generate("example.com/log").unwrap();
    assert!(Checkpoint::open(cp.text(), &other.verifier()).is_err());
}

#[test]
fn malformed_keys_and_notes_are_errors() {
    assert!(
        VerifierKey::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .is_err()
    );
    assert!(VerifierKey::parse("no plus signs").is_err());
    assert!(SigningKey::parse("PRIVATE+KEY+x+00000000+AAAA").is_err());
    assert!(SigningKey::generate("has space").is_err());
    let vkey = VerifierKey::parse(GO_VKEY).unwrap();
    assert!(Checkpoint::open("", &vkey).is_err());
    assert!(Checkpoint::open("a\n\n\u{2014} PeterNeumann !!!\n", &vkey).is_err());
    assert!(
        Checkpoint::sign(
            "two\nlines",
            1,
            [0; 32],
            &SigningKey::parse(GO_SKEY).unwrap()
        )
        .is_err()
    );
}

#[test]
fn key_files_are_private_and_round_trip() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.key");
    let key = SigningKey::generate("example.com/log").unwrap();
    key.create_file(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(SigningKey::load(&path).unwrap().verifier(), key.verifier());
    assert!(key.create_file(&path).is_err(), "never overwrites a key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(SigningKey::load(&path).is_err());
}
