//! `loopgate policy migrate FILE`: prints a first-version bundle rewritten in the second
//! version's schema (`loopgate_policy::migrate`); what it could not decide is left as
//! `# migrate:` comments in the output.

use std::path::Path;

use loopgate_policy::{PolicyError, migrate};

use crate::exit::Exit;

/// Exit 0 when the printed bundle validates as the second version (a second-version input is
/// printed unchanged), 1 when a human must fill in what the comments name, 2 when the file
/// cannot be read or is not a valid bundle.
pub(crate) fn run(file: &Path) -> Exit {
    let shown = file.display();
    let text = match super::read_text(file) {
        Ok(text) => text,
        Err(problem) => {
            eprintln!("{shown}:{problem}");
            return Exit::Usage;
        }
    };
    match migrate(&text) {
        Ok(migrated) => {
            print!("{}", migrated.text);
            if !migrated.changed {
                eprintln!("{shown}: already in the second version's schema; printed unchanged");
                return Exit::Success;
            }
            for note in &migrated.notes {
                eprintln!("{shown}: migrate: {note}");
            }
            if migrated.complete {
                eprintln!(
                    "{shown}: migrated; the output validates (read the `# migrate:` comments, if any, before applying it)"
                );
                Exit::Success
            } else {
                eprintln!(
                    "{shown}: migrated, but a human must fill in what the `# migrate:` comments name before it validates; then run `loopgate policy check`"
                );
                Exit::Failure
            }
        }
        Err(PolicyError::InvalidBundle { problems }) => {
            for problem in problems {
                eprintln!("{shown}:{problem}");
            }
            Exit::Usage
        }
    }
}
