//! The `phoneboot` binary: parse the command line, set up logging, run one
//! subcommand, print any error once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    one_malloc_arena();
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

/// glibc gives each thread that allocates its own arena, and each arena
/// keeps its own free pages: with the API's runtime, the TFTP thread and
/// its lookup thread that was about 1 MB more peak RSS serving 200
/// concurrent downloads (issue #16: 14.1–14.7 MB against 13.4–13.6 MB with
/// one arena, same throughput; allocation is light and per-thread caches
/// serve most of it). `MALLOC_ARENA_MAX` in the environment still wins.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread
        // exists; M_ARENA_MAX only bounds how many arenas malloc creates.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
