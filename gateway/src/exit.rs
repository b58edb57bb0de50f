//! Every exit status of the `loopgate` command, named once (the README's "Exit codes" table
//! lists the same). Commands return an [`Exit`]; `main` hands it to the OS.

use std::process::ExitCode;

/// How a `loopgate` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done; `policy eval` allowed the transfer; `audit verify` found the log sound.
    Success,
    /// 1: the command ran and the answer is no: `policy eval` denied, `audit verify` found
    /// damage or a forgery, `policy apply` could not reach the gateway or was refused, `serve`
    /// stopped on an error at run time, `dev init` could not make the folder.
    Failure,
    /// 2: bad usage: an argument that cannot be used, an unreadable file, an invalid bundle.
    Usage,
    /// 64 (sysexits `EX_USAGE`): the gateway's config file is wrong (`serve`, `check-config`).
    Config,
    /// 75 (sysexits `EX_TEMPFAIL`): restart me. Stopping (the log's flush or the connection
    /// threads) hung past `[limits] stop_timeout_secs`; a restart reopens the log (systemd's
    /// `Restart=on-failure` does it). A full disk needs no restart: the log heals by itself.
    TempFail,
}

impl Exit {
    /// The status number.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Config => 64,
            Exit::TempFail => 75,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}
