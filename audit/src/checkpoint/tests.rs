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

// --- cosignature/v1 (C2SP tlog-cosignature) and add-checkpoint messages (C2SP tlog-witness) ---

const ORIGIN: &str = "example.com/log";

fn checkpoint(size: u64, root: Hash) -> (SigningKey, Checkpoint) {
    let log = SigningKey::generate(ORIGIN).unwrap();
    let cp = Checkpoint::sign(ORIGIN, size, root, &log).unwrap();
    (log, cp)
}

#[test]
fn witness_key_id_uses_the_cosignature_type_byte_0x04() {
    // The Go example key as a witness key: same name and public key as the log key
    // GO_VKEY, so only the type byte (0x04, not 0x01) makes the id differ.
    let witness = WitnessSigningKey::parse(GO_SKEY).unwrap();
    let vkey = witness.verifier().to_string();
    let (name, rest) = vkey.split_once('+').unwrap();
    let (id, data) = rest.split_once('+').unwrap();
    assert_eq!(name, "PeterNeumann");
    let data = B64.decode(data).unwrap();
    assert_eq!(data[0], 0x04, "{vkey}");
    let go_data = B64
        .decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        .unwrap();
    assert_eq!(&data[1..], &go_data[1..], "the same public key");
    let mut msg = b"PeterNeumann\n\x04".to_vec();
    msg.extend_from_slice(&data[1..]);
    let digest = ring::digest::digest(&ring::digest::SHA256, &msg);
    let expected = format!(
        "{:02x}{:02x}{:02x}{:02x}",
        digest.as_ref()[0],
        digest.as_ref()[1],
        digest.as_ref()[2],
        digest.as_ref()[3]
    );
    assert_eq!(id, expected);
    assert_ne!(id, "c74f20a3", "not the 0x01 log key id");
    // The text round-trips; a log key (0x01) is not a witness key, nor the other way round.
    assert_eq!(
        WitnessVerifierKey::parse(&vkey).unwrap(),
        *witness.verifier()
    );
    let err = WitnessVerifierKey::parse(GO_VKEY).unwrap_err().to_string();
    assert!(err.contains("0x01") && err.contains("0x04"), "{err}");
    assert!(VerifierKey::parse(&vkey).is_err());
    let bad_id = vkey.replacen(id, "00000000", 1);
    assert!(WitnessVerifierKey::parse(&bad_id).is_err());
}

#[test]
fn a_cosignature_signs_the_header_the_time_and_the_body() {
    let (log, cp) = checkpoint(8, [5; 32]);
    let witness = WitnessSigningKey::generate("witness.example/w1").unwrap();
    let cosig = witness.cosign(&cp, 1_679_315_147).unwrap();
    assert_eq!(cosig.witness(), "witness.example/w1");
    assert_eq!(cosig.time(), 1_679_315_147);
    assert_eq!(cosig.key_id(), witness.verifier().id());
    // The line: `— <name> base64(id || time || sig)` = 4 + 8 + 64 bytes.
    let line = cosig.line();
    let b64 = line
        .strip_prefix("\u{2014} witness.example/w1 ")
        .and_then(|l| l.strip_suffix('\n'))
        .unwrap();
    let data = B64.decode(b64).unwrap();
    assert_eq!(data.len(), 76);
    assert_eq!(&data[..4], &witness.verifier().id().to_be_bytes());
    assert_eq!(&data[4..12], &1_679_315_147u64.to_be_bytes());
    // Checked with ring directly over the message the spec spells out.
    let msg = format!(
        "cosignature/v1\ntime 1679315147\n{ORIGIN}\n8\nBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=\n"
    );
    assert_eq!(msg, cosigned_message(cp.body(), 1_679_315_147));
    let vkey = B64
        .decode(
            witness
                .verifier()
                .to_string()
                .splitn(3, '+')
                .nth(2)
                .unwrap(),
        )
        .unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &vkey[1..])
        .verify(msg.as_bytes(), &data[12..])
        .unwrap();

    let cosigned = cp.with_cosignatures(std::slice::from_ref(&cosig));
    assert_eq!(cosigned, format!("{}{line}", cp.text()));
    assert_eq!(
        cp.with_cosignatures(&[cosig.clone(), cosig.clone()]),
        cosigned
    );
    let (opened, found) =
        open_cosigned(&cosigned, &log.verifier(), &[witness.verifier().clone()]).unwrap();
    assert_eq!(opened.body(), cp.body());
    assert_eq!(found, vec![cosig]);
    assert!(
        witness.cosign(&cp, 0).is_err(),
        "the timestamp is never zero"
    );
    assert!(witness.cosign(&cp, 1 << 63).is_err());
}

#[test]
fn bad_cosignatures_fail_and_unknown_ones_are_ignored() {
    let (log, cp) = checkpoint(3, [7; 32]);
    let w1 = WitnessSigningKey::generate("hk.example/witness").unwrap();
    let w2 = WitnessSigningKey::generate("cn.example/witness").unwrap();
    let stranger = WitnessSigningKey::generate("other.example/witness").unwrap();
    let keys = [w1.verifier().clone(), w2.verifier().clone()];
    let c1 = w1.cosign(&cp, 1_700_000_000).unwrap();
    let c2 = w2.cosign(&cp, 1_700_000_001).unwrap();
    let cs = stranger.cosign(&cp, 1_700_000_002).unwrap();

    let both = cp.with_cosignatures(&[c1.clone(), cs.clone(), c2.clone()]);
    let (_, found) = verify_cosigned(&both, &log.verifier(), &keys, 2).unwrap();
    assert_eq!(
        found,
        vec![c1.clone(), c2.clone()],
        "the stranger's is ignored"
    );

    let one = cp.with_cosignatures(&[c1.clone(), cs]);
    let err = verify_cosigned(&one, &log.verifier(), &keys, 2).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughCosignatures {
                valid: 1,
                needed: 2
            }
        ),
        "{err}"
    );
    // The same witness twice counts once.
    let twice = format!(
        "{}{}",
        cp.with_cosignatures(std::slice::from_ref(&c1)),
        c1.line()
    );
    assert!(verify_cosigned(&twice, &log.verifier(), &keys, 2).is_err());

    // A cosignature of another checkpoint, moved onto this one, does not verify.
    let (_, other) = checkpoint(4, [7; 32]);
    let moved = cp.with_cosignatures(&[w1.cosign(&other, 1_700_000_000).unwrap()]);
    assert!(open_cosigned(&moved, &log.verifier(), &keys).is_err());
    // A changed timestamp (the line's bytes 4..12) does not verify.
    let mut data = B64
        .decode(c1.line().trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    data[11] ^= 1;
    let retimed = format!(
        "{}\u{2014} hk.example/witness {}\n",
        cp.text(),
        B64.encode(&data)
    );
    assert!(open_cosigned(&retimed, &log.verifier(), &keys).is_err());
    // A flipped signature byte does not verify.
    data[11] ^= 1;
    data[40] ^= 0x80;
    let flipped = format!(
        "{}\u{2014} hk.example/witness {}\n",
        cp.text(),
        B64.encode(&data)
    );
    assert!(open_cosigned(&flipped, &log.verifier(), &keys).is_err());
    // A cosignature by a trusted witness on a note the log did not sign is still refused.
    let other_log = SigningKey::generate(ORIGIN).unwrap();
    assert!(open_cosigned(&both, &other_log.verifier(), &keys).is_err());
}

#[test]
fn witness_key_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.key");
    let key = WitnessSigningKey::generate("pcpd.example/witness").unwrap();
    key.create_file(&path).unwrap();
    let loaded = WitnessSigningKey::load(&path).unwrap();
    assert_eq!(loaded.verifier(), key.verifier());
    assert!(format!("{loaded:?}").contains("pcpd.example/witness"));
    assert!(!format!("{loaded:?}").contains("PRIVATE"));
}

#[test]
fn add_checkpoint_bodies_round_trip_and_malformed_ones_are_refused() {
    let (_, cp) = checkpoint(5, [1; 32]);
    let req = AddCheckpoint {
        old: 3,
        proof: vec![[2; 32], [3; 32]],
        checkpoint: cp.text().to_owned(),
    };
    let body = req.to_body();
    assert!(body.starts_with(&format!(
        "old 3\n{}\n{}\n\n{ORIGIN}\n5\n",
        B64.encode([2; 32]),
        B64.encode([3; 32])
    )));
    assert_eq!(AddCheckpoint::parse(&body).unwrap(), req);
    let first = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: cp.text().to_owned(),
    };
    assert!(first.to_body().starts_with("old 0\n\n"));
    assert_eq!(AddCheckpoint::parse(&first.to_body()).unwrap(), first);

    let too_long = format!(
        "old 1\n{}\n{}",
        format!("{}\n", B64.encode([0; 32])).repeat(64),
        cp.text()
    );
    for bad in [
        "",
        "old 3",
        "new 3\n\n",
        "old 03\n\nx",
        "old -1\n\nx",
        "old 3\n\n",
        "old 3\nnot base64\n\nx",
        "old 3\nAAAA\n\nx",
        "old 99999999999999999999\n\nx",
        too_long.as_str(),
    ] {
        let err = AddCheckpoint::parse(bad).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{bad:?}: {err}");
    }
    let ok63 = format!(
        "old 1\n{}\n{}",
        format!("{}\n", B64.encode([0; 32])).repeat(63),
        cp.text()
    );
    assert_eq!(AddCheckpoint::parse(&ok63).unwrap().proof.len(), 63);
}

#[test]
fn witness_answers_parse_into_signature_lines() {
    let (_, cp) = checkpoint(5, [1; 32]);
    let w = WitnessSigningKey::generate("w.example/1").unwrap();
    let c = w.cosign(&cp, 1_700_000_000).unwrap();
    assert_eq!(
        parse_cosignature_lines(c.line()).unwrap(),
        vec![c.line().to_owned()]
    );
    assert!(parse_cosignature_lines("").is_err());
    assert!(parse_cosignature_lines(c.line().trim_end()).is_err());
    assert!(parse_cosignature_lines("- w.example/1 AAAA\n").is_err());
    assert_eq!(Checkpoint::unverified_origin(cp.text()).unwrap(), ORIGIN);
    assert!(Checkpoint::unverified_origin("no\nnote").is_err());
}

#[test]
fn a_witness_keeps_only_the_log_signature_lines() {
    let (log, cp) = checkpoint(2, [9; 32]);
    let w = WitnessSigningKey::generate("w.example/1").unwrap();
    let c = w.cosign(&cp, 1_700_000_000).unwrap();
    let noisy = format!("{}\u{2014} stranger AAAAAAAA\n", cp.with_cosignatures(&[c]));
    let opened = Checkpoint::open(&noisy, &log.verifier()).unwrap();
    assert_eq!(
        opened.only_signed_by(&log.verifier()).unwrap().text(),
        cp.text()
    );
}

#[test]
fn cosignature_lines_over_a_trusted_checkpoint_are_checked_without_the_log_key() {
    let (log, cp) = checkpoint(5, [3; 32]);
    let w = WitnessSigningKey::generate("hk.example/witness").unwrap();
    let stranger = WitnessSigningKey::generate("other.example/witness").unwrap();
    let c = w.cosign(&cp, 1_700_000_000).unwrap();
    let s = stranger.cosign(&cp, 1_700_000_000).unwrap();
    let lines = vec![s.line().to_owned(), c.line().to_owned()];
    let found = verify_cosignature_lines(&cp, &lines, w.verifier()).unwrap();
    assert_eq!(found, vec![c.clone()], "the stranger's line is ignored");
    assert!(
        verify_cosignature_lines(&cp, &lines[..1], w.verifier())
            .unwrap()
            .is_empty()
    );
    // A flipped signature byte, or a cosignature of another checkpoint, is an error.
    let mut data = B64
        .decode(c.line().trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    data[40] ^= 0x80;
    let flipped = format!("\u{2014} hk.example/witness {}\n", B64.encode(&data));
    assert!(verify_cosignature_lines(&cp, &[flipped], w.verifier()).is_err());
    let (_, other) = checkpoint(6, [3; 32]);
    assert!(verify_cosignature_lines(&other, &lines, w.verifier()).is_err());
    // What a witness keeps: the log's lines and its own, and it opens as a cosigned note.
    let kept = cp.cosigned(std::slice::from_ref(&c));
    assert_eq!(kept.text(), cp.with_cosignatures(std::slice::from_ref(&c)));
    assert_eq!((kept.size(), kept.root()), (cp.size(), cp.root()));
    let (_, found) =
        verify_cosigned(kept.text(), &log.verifier(), &[w.verifier().clone()], 1).unwrap();
    assert_eq!(found, vec![c]);
}
