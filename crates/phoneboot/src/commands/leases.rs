//! `phoneboot leases` and `phoneboot dhcp-option`.

use std::process::ExitCode;

use crate::cli;
use crate::clock::WallClock;
use crate::net::dhcp::leases;

pub fn list_leases(common: &cli::Common) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(common)?;
    let leases = leases::list(&cfg.store, &cfg.data_dir)?;
    let now_ms = WallClock::now().to_unix_ms(std::time::Instant::now());
    let shared = leases.iter().any(|(_, s)| s.is_some());
    if shared {
        println!(
            "{:<17}  {:<15}  {:<10}  {:<24}  expires",
            "MAC", "IP", "model", "server"
        );
    } else {
        println!("{:<17}  {:<15}  {:<10}  expires", "MAC", "IP", "model");
    }
    for (l, server) in &leases {
        let mac = cisco::Mac(l.mac).to_string();
        let left = (l.expires_unix_ms - now_ms) / 1000;
        let expiry = if left >= 0 {
            format!(
                "in {}",
                humantime::format_duration(std::time::Duration::from_secs(left as u64))
            )
        } else {
            format!(
                "expired {} ago",
                humantime::format_duration(std::time::Duration::from_secs(left.unsigned_abs()))
            )
        };
        match server {
            Some(s) => println!(
                "{mac:<17}  {:<15}  {:<10}  {s:<24}  {expiry}",
                l.ip.to_string(),
                l.model.as_deref().unwrap_or("-")
            ),
            None => println!(
                "{mac:<17}  {:<15}  {:<10}  {expiry}",
                l.ip.to_string(),
                l.model.as_deref().unwrap_or("-")
            ),
        }
    }
    println!("{} leases", leases.len());
    Ok(ExitCode::SUCCESS)
}

pub fn dhcp_option(code: u8, addresses: &[std::net::Ipv4Addr]) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        code == 150,
        "only option 150 (TFTP server addresses) is supported; option 66 is simply the first address as text"
    );
    for f in dhcp::option150_formats(addresses) {
        println!("{}:\n{}\n", f.name, f.text.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
