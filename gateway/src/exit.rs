//! Every exit status of the `loopgate` command, named once (the README's "Exit codes" table
//! lists the same). Commands return an [`Exit`]; `main` hands it to the OS.

use std::process::ExitCode;

/// How a `loopgate` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done; `policy eval` allowed the transfer; `audit verify` found the log sound.
    Success,
    /// 1: the command ran and the answer is no: `policy eval` denied, `audit verify` found
    /// damage or a forgery, `policy apply` or `tenant` could not reach the gateway or was
    /// refused, `serve` failed for another reason (a listener that cannot bind, the log that
    /// cannot be opened or written), `dev init` could not make the folder.
    Failure,
    /// 2: bad usage: an argument that cannot be used, an unreadable file, an invalid bundle, a
    /// file `dev cert` would overwrite.
    Usage,
    /// 3: `policy apply` did not get a confirmation, so nothing was applied: no terminal to
    /// ask and no `--yes`, a change that lifts a suspension or revocation without `--yes`, or
    /// the operator answered no.
    NotConfirmed,
    /// 64 (sysexits `EX_USAGE`): the gateway's config file is wrong, or a file it names (the
    /// policy bundle, a certificate, key or CA) cannot be read or is invalid (`serve`,
    /// `check-config`); or the witness's config (`witness serve`).
    Config,
    /// 73 (sysexits `EX_CANTCREAT`): `serve` cannot have its log folder: another gateway
    /// process holds it (its pid is in the message when known). Stop that one first, or give
    /// this one another `[log] dir`. `witness serve`: another witness process holds its
    /// `state_dir` (likewise).
    Locked,
    /// 75 (sysexits `EX_TEMPFAIL`): restart me. Stopping (the log's flush or the connection
    /// threads) hung past `[limits] stop_timeout_secs`; a restart reopens the log (systemd's
    /// `Restart=on-failure` does it). A full disk needs no restart: the log heals by itself.
    TempFail,
}

impl Exit {
    /// Every status, in number order (for `--help` and the man page).
    pub(crate) const ALL: [Exit; 7] = [
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::NotConfirmed,
        Exit::Config,
        Exit::Locked,
        Exit::TempFail,
    ];

    /// What the status means, in one line (the man page's EXIT STATUS).
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success; `policy eval` allowed; `audit verify` found the log sound",
            Exit::Failure => {
                "the answer is no: a denial (`policy eval`), a failed verification, a gateway that cannot be reached or refuses (`policy apply`, `tenant`), `serve` failed for another reason (a listener that cannot bind, the log)"
            }
            Exit::Usage => {
                "bad usage: an argument that cannot be used, an unreadable file, an invalid bundle, a certificate `dev cert` would overwrite"
            }
            Exit::NotConfirmed => {
                "`policy apply` applied nothing for want of a confirmation: no terminal and no --yes, a lift of a suspension or revocation without --yes, or the answer was no"
            }
            Exit::Config => {
                "the gateway config is wrong, or a file it names (bundle, certificate, key, CA) is unreadable or invalid (`serve`, `check-config`); or the witness config (`witness serve`)"
            }
            Exit::Locked => {
                "`serve`: another gateway process holds the log folder (stop it, or use another [log] dir); `witness serve`: another witness holds the state_dir"
            }
            Exit::TempFail => "`serve`'s stop hung past [limits] stop_timeout_secs: restart it",
        }
    }

    /// The status number.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotConfirmed => 3,
            Exit::Config => 64,
            Exit::Locked => 73,
            Exit::TempFail => 75,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the README's exit code table against a status added here and not documented.
    #[test]
    fn the_readme_documents_every_exit_status() {
        let readme = include_str!("../../README.md");
        for exit in Exit::ALL {
            let row = format!("| `{}` |", exit.code());
            assert!(
                readme.contains(&row),
                "README.md has no exit code row {row}"
            );
        }
        let mut codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), Exit::ALL.len(), "two statuses share a number");
        assert!(
            codes.windows(2).all(|w| w[0] < w[1]),
            "ALL is in number order"
        );
    }
}
