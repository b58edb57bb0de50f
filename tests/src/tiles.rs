//! The log as C2SP `tlog-tiles`: a mirror of a checkpoint's tiles downloaded with a regulator's
//! client, and Go's `golang.org/x/mod/sumdb/{note,tlog}` checking it (`tests/go/tiles`), built
//! offline by the same `receipt::build_go_tool` as the receipt checker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::client::{Client, Response};
use crate::receipt::build_go_tool;

/// A full tile's width (tile height 8).
pub const FULL: u64 = 256;

/// `<N>[.p/<W>]` as C2SP `tlog-tiles` writes it: `N` in 3-digit groups, all but the last
/// prefixed `x`; `.p/<W>` for a partial tile.
pub fn index_path(n: u64, width: u64) -> String {
    let mut path = format!("{:03}", n % 1000);
    let mut rest = n / 1000;
    while rest > 0 {
        path = format!("x{:03}/{path}", rest % 1000);
        rest /= 1000;
    }
    if width < FULL {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

/// The tiles of the tree of `size` records, as `(path below /v1/audit/, width)`: per level, the
/// full hash tiles and the partial one; then the entry bundles.
pub fn tiles_of(size: u64) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut level = 0;
    loop {
        let hashes = size >> (8 * level);
        if hashes == 0 {
            break;
        }
        for (n, width) in widths(hashes) {
            out.push((format!("tile/{level}/{}", index_path(n, width)), width));
        }
        level += 1;
    }
    for (n, width) in widths(size) {
        out.push((format!("tile/entries/{}", index_path(n, width)), width));
    }
    out
}

/// `(tile index, width)` of the tiles holding `count` hashes (or entries).
fn widths(count: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = (0..count / FULL).map(|n| (n, FULL)).collect();
    if count % FULL > 0 {
        out.push((count / FULL, count % FULL));
    }
    out
}

/// Downloads `checkpoint` (the text) and every tile and entry bundle of its tree into `dir`,
/// under the paths the URLs name below `/v1/audit/`; checks each answer is 200
/// `application/octet-stream` of the right length for a hash tile; returns each tile's response
/// by path.
pub fn mirror(regulator: &Client, checkpoint: &str, dir: &Path) -> Vec<(String, Response)> {
    let size: u64 = checkpoint
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a checkpoint's second line is its size");
    std::fs::write(dir.join("checkpoint"), checkpoint).unwrap();
    let mut out = Vec::new();
    for (path, width) in tiles_of(size) {
        let r = regulator.get(&format!("/v1/audit/{path}"));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(
            r.headers["content-type"], "application/octet-stream",
            "{path}"
        );
        if !path.starts_with("tile/entries/") {
            assert_eq!(r.body.len() as u64, 32 * width, "{path}");
        }
        let file = dir.join(&path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &r.body).unwrap();
        out.push((path, r));
    }
    out
}

/// The entries of an entry bundle (each a big-endian uint16 length and its bytes); panics on a
/// malformed bundle.
pub fn entries(bundle: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        out.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    out
}

/// The Go tiles checker, built once per test process; `None` (with a loud note) only when Go or
/// golang.org/x/mod is missing outside CI.
pub fn go_tiles_checker() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_go_tool("tiles", "tiles-checker", "the Go tiles checker"))
        .as_deref()
}

/// Runs the Go checker on a mirror made by [`mirror`]: whether it accepted it, and what it
/// printed. `None` when Go is not available.
pub fn go_checks_tiles(dir: &Path, log_pub_file: &Path) -> Option<(bool, String)> {
    let go = go_tiles_checker()?;
    let out = Command::new(go)
        .arg(dir)
        .arg(log_pub_file)
        .output()
        .unwrap();
    Some(crate::printed(&out))
}
