//! `phoneboot check-config`, and the missing-load check `doctor` and
//! `serve` share.

use std::process::ExitCode;

use anyhow::Context;

use crate::commands::firmware;
use crate::config::Config;

pub fn check_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(path)?;
    let missing = missing_loads(&cfg)?;
    if missing.is_empty() {
        println!("{}: ok", path.display());
    }
    print_summary(&cfg);
    for m in &missing {
        eprintln!("{}: {m}", path.display());
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Loads the desired state names that neither the firmware library nor the
/// TFTP root holds complete. No library yet means nothing imported.
pub(crate) fn missing_loads(cfg: &Config) -> anyhow::Result<Vec<String>> {
    let dir = cfg.data_dir.join(firmware::LIBRARY_DIR);
    let mut complete: Vec<cisco::LoadName> = if dir.exists() {
        library::Library::open(&dir)
            .with_context(|| format!("cannot open the firmware library {}", dir.display()))?
            .loads()
            .into_iter()
            .filter(|l| l.is_servable())
            .map(|l| l.name)
            .collect()
    } else {
        Vec::new()
    };
    complete.extend(complete_in_root(&cfg.root));
    Ok(missing_from(cfg, &complete))
}

/// Complete loads lying at the top of the TFTP root.
pub(crate) fn complete_in_root(root: &std::path::Path) -> Vec<cisco::LoadName> {
    library::folder::scan(root)
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.load.complete)
        .map(|l| l.load.name)
        .collect()
}

/// The desired state's loads that are not among `complete`, each with its fix.
pub(crate) fn missing_from(cfg: &Config, complete: &[cisco::LoadName]) -> Vec<String> {
    cfg.desired
        .check_library(&|l| complete.contains(l))
        .iter()
        .map(ToString::to_string)
        .collect()
}

pub(crate) fn print_summary(cfg: &Config) {
    let p = &cfg.tftp.policy;
    println!("  data dir:   {}", cfg.data_dir.display());
    println!("  tftp root:  {}", cfg.root.display());
    println!(
        "  firmware:   {} (term*.default.loads for {})",
        cfg.data_dir.join(firmware::LIBRARY_DIR).display(),
        cfg.default_protocol
    );
    println!(
        "  tftp:       {} (blksize ≤ {}, window ≤ {}, timeout {:?}..{:?}, {} retries)",
        cfg.tftp.listen, p.max_blksize, p.max_windowsize, p.min_rto, p.max_rto, p.max_retries
    );
    println!(
        "  limits:     {} transfers, {} per client",
        cfg.tftp.limits.max_transfers, cfg.tftp.limits.max_per_client
    );
    println!(
        "  http:       API {} ({}), phones {}",
        cfg.http.listen,
        if cfg.http.token.is_some() {
            "token set"
        } else {
            "no token"
        },
        cfg.http
            .phone_listen
            .map(|a| a.to_string())
            .unwrap_or_else(|| "off".into())
    );
    if let Some(i) = &cfg.interface {
        println!("  interface:  {i}");
    }
    let d = &cfg.desired;
    println!(
        "  phones:     {} configured, default protocol {}, SIP server {}",
        d.phones.len(),
        cfg.default_protocol,
        if d.site.sip_server.is_empty() {
            "(not set)"
        } else {
            d.site.sip_server.as_str()
        }
    );
}
