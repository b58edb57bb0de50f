//! What the command line says when it refuses (README "Command line"): each message names the
//! cause, the file or flag, and what to do, with a documented exit code; and the operator's
//! aids generated from the CLI definition (completions, man pages).

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Folder, Gateway};
use loopgate_tests::{Loopgate, loopgate_bin};

/// Regression: a second `serve` on the same folder waited ten seconds for sled's lock and then
/// said to delete the index folder (exit 1). It must name the gateway holding the folder, by
/// pid, and exit 73 at once, leaving the first gateway serving.
#[test]
fn a_second_serve_on_the_same_folder_names_the_gateway_holding_it_and_exits_73() {
    let gw = Gateway::dev().start();
    let pid = gw.pid().unwrap();
    let started = Instant::now();
    let mut second = Command::new(loopgate_bin())
        .args(["serve", "--config"])
        .arg(gw.dir().join("gateway.toml"))
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = second.kill();
            panic!("a second serve on the same folder did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(73), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another loopgate process (pid {pid}) has the log folder"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("stop that one first"), "{stderr}");
    assert!(!stderr.contains("delete the index folder"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    let first = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"still serving"[..])
        .send();
    assert_eq!(first.status, 201, "{}", first.text());
    // Its records are whole: the second one wrote nothing.
    let records = gw.stop().records();
    assert!(records.iter().any(|r| r["kind"] == "outcome"));
}

/// `loopgate dev cert` for the tenant `id` in `folder`.
fn dev_cert(folder: &Folder, id: &str) -> loopgate_tests::Run {
    Loopgate::new()
        .args(["dev", "cert", "--role", "tenant", "--id", id, "--dir"])
        .args([folder.path().as_os_str()])
        .run()
}

/// Regression: `dev cert` over an existing certificate said only "File exists (os error 17)".
#[test]
fn dev_cert_over_an_existing_certificate_names_it_and_what_to_do() {
    let folder = Folder::init();
    let pem = folder.path().join("pki/tenant-sz-genomics.pem");
    let before = std::fs::read(&pem).unwrap();
    let run = dev_cert(&folder, "sz-genomics");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("{} already exists", pem.display())),
        "{run:?}"
    );
    assert!(run.stderr.contains("another --id"), "{run:?}");
    assert!(run.stderr.contains("delete"), "{run:?}");
    assert!(!run.stderr.contains("os error"), "{run:?}");
    assert_eq!(std::fs::read(&pem).unwrap(), before);

    // A key left without its certificate is named too, and nothing is written beside it.
    let key = folder.path().join("pki/tenant-hk-newlab.key");
    std::fs::write(&key, "left over").unwrap();
    let run = dev_cert(&folder, "hk-newlab");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("{} already exists", key.display())),
        "{run:?}"
    );
    assert!(!folder.path().join("pki/tenant-hk-newlab.pem").exists());

    let run = dev_cert(&folder, "hk-otherlab");
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    for (shell, marker) in [
        ("bash", "_loopgate()"),
        ("zsh", "#compdef loopgate"),
        ("fish", "complete -c loopgate"),
    ] {
        let run = Loopgate::new().args(["completions", shell]).run();
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200]
        );
        for word in ["unsuspend", "--yes", "check-config"] {
            assert!(run.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let run = Loopgate::new().args(["completions", "tcsh"]).run();
    assert_eq!(run.code, 2, "{run:?}");

    let man = Loopgate::new().args(["man"]).run();
    assert_eq!(man.code, 0, "{man:?}");
    assert!(
        man.stdout.starts_with(".ie \\n(.g"),
        "{}",
        &man.stdout[..100]
    );
    assert!(man.stdout.contains(".TH loopgate 1"), "{man:?}");
    assert!(man.stdout.contains("Exit status:"), "{man:?}");
    assert!(man.stdout.contains("73"), "{man:?}");

    let dir = tempfile::tempdir().unwrap();
    let run = Loopgate::new()
        .args(["man", "--dir"])
        .args([dir.path().as_os_str()])
        .run();
    assert_eq!(run.code, 0, "{run:?}");
    for page in [
        "loopgate.1",
        "loopgate-policy-apply.1",
        "loopgate-tenant-unsuspend.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH "), "{page}");
    }
    let apply = std::fs::read_to_string(dir.path().join("loopgate-policy-apply.1")).unwrap();
    assert!(apply.contains("yes"), "{apply}");
}

/// A file the config names that cannot be read (here the API certificate) stops `serve` with
/// the config's exit status, 64, as `check-config` reports it, and the message names the file.
#[test]
fn serve_with_a_missing_certificate_names_it_and_exits_64() {
    let (code, stderr, _folder) = Gateway::dev()
        .files(|dir| std::fs::remove_file(dir.join("pki").join("server.pem")).unwrap())
        .start_refused();
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("server.pem"), "{stderr}");
}
