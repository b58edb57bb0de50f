//! The README documents every reason code with the status and rule the code returns (a
//! transfer rule's number, or `S<n>` for a code only the shipment rules return); every relative
//! link in the repository's markdown resolves to a file inside the repository (and its `#anchor`
//! to a heading there); the repository paths the example configs mention exist.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use loopgate_policy::ReasonCode;
use loopgate_tests::workspace_root;

#[test]
fn readme_lists_every_reason_code_with_its_status_and_rule() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let documented: Vec<(String, String, String)> = readme
        .lines()
        .filter(|line| line.starts_with("| `") && line.contains('.'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.trim_matches('`');
            Some((
                code.to_owned(),
                cells.get(2)?.to_string(),
                cells.get(3)?.to_string(),
            ))
        })
        .filter(|(code, _, _)| code.parse::<ReasonCode>().is_ok())
        .collect();
    let expected: Vec<(String, String, String)> = ReasonCode::ALL
        .iter()
        .map(|code| {
            let rule = code
                .rule()
                .map(|r| r.to_string())
                .or_else(|| code.shipment_rule().map(|r| format!("S{r}")))
                .unwrap_or_default();
            (
                code.as_str().to_owned(),
                code.http_status().to_string(),
                rule,
            )
        })
        .collect();
    assert_eq!(
        documented, expected,
        "README.md's reason code table is out of date"
    );
}

/// Folders that are not the repository's documents: build output, dev folders, fuzz output.
const NOT_DOCS: [&str; 7] = [
    ".git",
    "target",
    "loopgate-dev",
    "node_modules",
    "out",
    "mutants.out",
    "mutants.out.old",
];

/// The markdown files under `dir`.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !NOT_DOCS.contains(&name.as_str()) && path != workspace_root().join("bench/results")
            {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The lines of `text` outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// GitHub's anchors for the headings of `text`: lower case, letters, digits, `-` and `_` kept,
/// spaces made `-`, the rest dropped; a repeated one gets `-1`, `-2`, ...
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (_, line) in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.push(if *n == 0 { slug } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

/// The link targets of one line of prose: inline `[text](target)` outside code spans, and a
/// reference definition `[name]: target`.
fn link_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rest) = line.trim_start().strip_prefix('[') {
        if let Some((_, def)) = rest.split_once("]: ") {
            out.push(def.split_whitespace().next().unwrap_or("").to_owned());
        }
    }
    // Outside `code spans`: the even pieces between backticks.
    for piece in line.split('`').step_by(2) {
        let mut rest = piece;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].trim();
            let target = target.split_whitespace().next().unwrap_or("");
            out.push(target.trim_matches(['<', '>']).to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_markdown_resolves_inside_the_repository() {
    let root = workspace_root().canonicalize().unwrap();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.len() >= 5, "{files:?}");
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        for (n, line) in prose(&text) {
            for target in link_targets(line) {
                if target.is_empty()
                    || target.starts_with("http://")
                    || target.starts_with("https://")
                    || target.starts_with("mailto:")
                {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let resolved = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().unwrap().join(path)
                };
                let Ok(real) = resolved.canonicalize() else {
                    broken.push(format!("{shown}:{n}: {target}: no such file"));
                    continue;
                };
                if !real.starts_with(&root) {
                    broken.push(format!("{shown}:{n}: {target}: outside the repository"));
                    continue;
                }
                if let (Some(anchor), true) = (anchor, real.extension().is_some_and(|e| e == "md"))
                {
                    let heads = anchors(&std::fs::read_to_string(&real).unwrap());
                    if !heads.iter().any(|h| h == anchor) {
                        broken.push(format!("{shown}:{n}: {target}: no heading #{anchor}"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_repository_paths_the_example_configs_mention_exist() {
    let root = workspace_root();
    for config in ["deploy/gateway.toml", "gateway/src/devmode/gateway.toml"] {
        let text = std::fs::read_to_string(root.join(config)).unwrap();
        let words = text.split(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '`' | '(' | ')' | ',' | ';' | ':' | '\'')
        });
        for word in words {
            let word = word.trim_end_matches('.');
            let named = [".md", ".toml", ".sh", ".rs"]
                .iter()
                .any(|ext| word.ends_with(ext));
            // A repository path: relative, with a folder (`/etc/...` and `pki/...` files of a
            // running gateway are absolute or have no such extension).
            if named && word.contains('/') && !word.starts_with('/') && !word.starts_with('.') {
                assert!(
                    root.join(word).is_file(),
                    "{config} mentions {word}, which is not in the repository"
                );
            }
        }
    }
}
