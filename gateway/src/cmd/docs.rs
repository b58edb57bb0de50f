//! `loopgate completions SHELL` and `loopgate man [--dir DIR]`: shell completions and man pages
//! generated from the clap definition, so they cannot drift from the flags the binary takes.
//! `deploy/` ships them generated (`deploy/completions/`, `deploy/man/`; a test in
//! `gateway/tests/deploy.rs` keeps them current).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use clap_complete::Shell;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write every page into this folder (loopgate.1 and one page per command, e.g.
    /// loopgate-policy-apply.1) instead of printing loopgate.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn completions(args: &CompletionsArgs) -> Exit {
    let mut command = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "loopgate", &mut out);
    emit(&out)
}

pub(crate) fn man(args: &ManArgs) -> Exit {
    let command = crate::cli::command();
    if let Some(dir) = &args.dir {
        return match clap_mangen::generate_to(command, dir) {
            Ok(()) => Exit::Success,
            Err(e) => {
                eprintln!(
                    "loopgate man: cannot write the pages into {}: {e}; make the folder or pass another --dir",
                    dir.display()
                );
                Exit::Usage
            }
        };
    }
    let mut out = Vec::new();
    match clap_mangen::Man::new(command).render(&mut out) {
        Ok(()) => emit(&out),
        Err(e) => {
            eprintln!("loopgate man: cannot render the page: {e}");
            Exit::Failure
        }
    }
}

/// Writes `bytes` to standard output; a closed pipe (`| head`) is not an error worth a panic.
fn emit(bytes: &[u8]) -> Exit {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Exit::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Success,
        Err(e) => {
            eprintln!("loopgate: cannot write to standard output: {e}");
            Exit::Failure
        }
    }
}
