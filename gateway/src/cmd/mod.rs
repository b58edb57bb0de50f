//! One module per subcommand: a clap `Args` struct and `run(args) -> ExitCode`.

pub(crate) mod audit;
pub(crate) mod keygen;
