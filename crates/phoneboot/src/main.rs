//! The `phoneboot` binary: parse the command line, set up logging, run one
//! subcommand, print any error once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = phoneboot::cli::Cli::parse();
    phoneboot::logging::init(cli.log_format, cli.verbose);
    match phoneboot::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("phoneboot: {err:#}");
            ExitCode::from(2)
        }
    }
}
