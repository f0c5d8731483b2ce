//! One module per command that is not `serve`; [`run`] picks one.

pub mod asterisk;
pub mod check_config;
pub mod client;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod firmware;
pub mod leases;
#[cfg(feature = "demo")]
pub mod simulate;
pub mod store;

use std::process::ExitCode;

use crate::cli::{self, Cli, Command};
use crate::config::Config;

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::serve(args),
        Command::CheckConfig { path } => check_config::check_config(&path),
        Command::Firmware(cmd) => firmware::run(cmd),
        Command::Store(cmd) => store::run(cmd),
        Command::Leases { common } => leases::list_leases(&common),
        Command::Doctor { common, interface } => doctor::command(&common, interface.as_deref()),
        Command::Asterisk(cli::AsteriskCommand::Pjsip { common, output }) => {
            asterisk::command(&common, output.as_deref())
        }
        Command::DhcpOption { code, addresses } => leases::dhcp_option(code, &addresses),
        #[cfg(feature = "demo")]
        Command::Simulate(args) => simulate::run(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args),
        Command::Status { api } => client::status(&api),
        Command::Phones { action: None, api } => client::phones(&api),
        Command::Phones {
            action: Some(crate::cli::PhonesAction::Reboot { mac, api }),
            ..
        } => client::reboot(&api, &mac),
        Command::Phones {
            action: Some(crate::cli::PhonesAction::Retry { mac, api }),
            ..
        } => client::retry(&api, &mac),
        Command::Events {
            api,
            follow,
            mac,
            kind,
            lines,
        } => client::events(&api, follow, mac.as_deref(), kind.as_deref(), lines),
    }
}

/// The config a command that is not `serve` works with: the file when one
/// was named, else the built-in defaults; `--data-dir` wins.
pub(crate) fn load_config(common: &cli::Common) -> anyhow::Result<Config> {
    let mut cfg = match &common.config {
        Some(p) => Config::load(p)?,
        None => Config::defaults(),
    };
    if let Some(d) = &common.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(r) = &common.root {
        cfg.root = r.clone();
    }
    cfg.apply_store_flag(common)?;
    Ok(cfg)
}
