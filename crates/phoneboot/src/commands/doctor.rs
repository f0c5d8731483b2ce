//! `phoneboot doctor`: what would stop phones from booting, found before a
//! phone is plugged in, each finding with the fix.
//!
//! Every check reads state and changes nothing: ports are tested by binding
//! and closing again, the firewall by reading its rules, the segment by one
//! DHCP DISCOVER from a locally administered MAC (the same probe `serve`
//! sends at start).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use std::process::ExitCode;

use anyhow::Context;

use crate::cli;
use crate::config::Config;
use crate::net::dhcp as dhcp_driver;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub check: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Ok => "ok     ",
            Severity::Warning => "warning",
            Severity::Problem => "PROBLEM",
        };
        write!(f, "{tag}  {:<10} {}", self.check, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n         {:<10} fix: {fix}", "")?;
        }
        Ok(())
    }
}

fn finding(
    severity: Severity,
    check: &'static str,
    message: String,
    fix: Option<String>,
) -> Finding {
    Finding {
        severity,
        check,
        message,
        fix,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// A port phoneboot needs, and why.
struct Needed {
    proto: Proto,
    addr: SocketAddr,
    what: &'static str,
}

/// Runs every check. `interface` (flag or config) adds the DHCP checks.
pub async fn run(cfg: &Config, interface: Option<&str>, probe_wait: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut needed = vec![Needed {
        proto: Proto::Udp,
        addr: cfg.tftp.listen,
        what: "TFTP",
    }];
    needed.push(Needed {
        proto: Proto::Tcp,
        addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 6970)),
        what: "HTTP for phones",
    });
    if interface.is_some() {
        needed.push(Needed {
            proto: Proto::Udp,
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, dhcp::SERVER_PORT)),
            what: "DHCP",
        });
    }
    out.push(privileges(&needed));
    for n in &needed {
        out.push(port(n));
    }
    out.extend(firewall(&needed));
    if let Some(name) = interface {
        out.extend(interface_checks(cfg, name, probe_wait).await);
    }
    out.push(firmware(cfg));
    out.extend(root_files(cfg));
    out.push(time_sync(cfg));
    out
}

/// A PostgreSQL store: reachable, its schema, and the servers beating in it.
fn shared_store(cfg: &Config) -> Option<Finding> {
    let crate::config::StoreLocation::Postgres(url) = &cfg.store else {
        return None;
    };
    let shown = store::redact(url);
    let mut db = match store::PgStore::connect_only(url, "doctor") {
        Ok(db) => db,
        Err(e) => return Some(finding(Severity::Problem, "store", e.to_string(), None)),
    };
    Some(match db.status() {
        Err(e) => finding(Severity::Problem, "store", e.to_string(), None),
        Ok(s) if s.found == 0 => finding(
            Severity::Ok,
            "store",
            format!("{shown} answers; empty (the first `serve` sets it up)"),
            None,
        ),
        Ok(s) if s.pending() > 0 => finding(
            Severity::Problem,
            "store",
            format!(
                "{shown} has schema version {}, this phoneboot writes {}",
                s.found, s.supported
            ),
            Some(
                "run `phoneboot store migrate` once every server sharing it runs this version"
                    .into(),
            ),
        ),
        Ok(s) => {
            let live = db.peers(cfg.ha.takeover_after).unwrap_or_default();
            let names: Vec<String> = live
                .iter()
                .map(|p| format!("{} ({})", p.name, p.addr))
                .collect();
            finding(
                Severity::Ok,
                "store",
                format!(
                    "{shown} answers, schema version {}; live servers: {}",
                    s.found,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
                None,
            )
        }
    })
}

/// What the operator's own files in the TFTP root change, as `serve` says
/// at start; a config phones would refuse is a problem.
fn root_files(cfg: &Config) -> Vec<Finding> {
    use crate::provision::resolver::root_notes;
    use crate::provision::served::RootFiles;
    let mode = cfg.desired.root_files;
    let dir = cfg.data_dir.join(super::firmware::LIBRARY_DIR);
    // Opened only when it exists: doctor changes nothing.
    let lib = dir
        .join("index")
        .exists()
        .then(|| crate::provision::resolver::LibrarySource::open(&dir, cfg.default_protocol).ok())
        .flatten();
    let shadowed = |names: &[String]| -> Vec<(String, String)> {
        lib.as_ref().map(|l| l.shadowed(names)).unwrap_or_default()
    };
    let generates = |name: &str| cisco::GeneratedFile::parse(name).is_some();
    let mut out: Vec<Finding> = root_notes(&cfg.root, mode, &generates, &shadowed)
        .into_iter()
        .map(|n| {
            let (severity, fix) = match (&n.problem, mode) {
                (Some(p), _) => (Severity::Problem, Some(p.clone())),
                (None, RootFiles::Serve) => (
                    Severity::Ok,
                    Some(
                        "to have phoneboot generate it instead, remove it from the root or set \
                         [provision] root_files = \"generated\""
                            .to_owned(),
                    ),
                ),
                (None, RootFiles::Generated) => (Severity::Warning, None),
            };
            finding(severity, "root", format!("{}: {}", n.file, n.meaning), fix)
        })
        .collect();
    for l in library::folder::scan(&cfg.root)
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !l.load.complete)
    {
        let why = l
            .problem
            .clone()
            .unwrap_or_else(|| format!("lacks {}", l.load.missing.join(", ")));
        out.push(finding(
            Severity::Warning,
            "root",
            format!(
                "firmware {} in the TFTP root is incomplete ({why}) and is not offered to phones",
                l.load.name
            ),
            Some("unzip its whole bundle into the root, or remove its .loads file".to_owned()),
        ));
    }
    out
}

/// Phones take their time from us (or the NTP server they are told): an
/// unsynchronised host means wrong call logs and, with our SNTP server, phones
/// that refuse the time.
fn time_sync(cfg: &Config) -> Finding {
    let status = crate::net::sntp::clock_status();
    if status.synchronised {
        finding(
            Severity::Ok,
            "time",
            "the host clock is synchronised".into(),
            None,
        )
    } else if cfg.time.host_is_reference {
        finding(
            Severity::Ok,
            "time",
            "the host clock is not synchronised, but [time] host_is_reference makes it the bench's clock".into(),
            None,
        )
    } else {
        finding(
            Severity::Warning,
            "time",
            "the host clock is not synchronised: phoneboot's SNTP server will tell phones so, and they keep a wrong time".into(),
            Some("synchronise it (chrony, systemd-timesyncd), or on an isolated bench set the clock by hand and [time] host_is_reference = true".into()),
        )
    }
}

fn capability(bit: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << bit) != 0)
}

const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_NET_RAW: u32 = 13;

fn privileges(needed: &[Needed]) -> Finding {
    let low = needed.iter().any(|n| n.addr.port() < 1024);
    let bind = capability(CAP_NET_BIND_SERVICE);
    let raw = capability(CAP_NET_RAW);
    if low && !bind {
        return finding(
            Severity::Problem,
            "privileges",
            "cannot bind ports below 1024 (TFTP 69, DHCP 67) as this user".into(),
            Some("run phoneboot as root (sudo), or grant it: sudo setcap cap_net_bind_service,cap_net_raw+ep $(command -v phoneboot)".into()),
        );
    }
    if !raw {
        return finding(
            Severity::Warning,
            "privileges",
            "no CAP_NET_RAW: DHCP cannot ping an address before offering it (conflict check off)"
                .into(),
            Some("run as root or add cap_net_raw with setcap".into()),
        );
    }
    finding(
        Severity::Ok,
        "privileges",
        "may bind low ports and send pings".into(),
        None,
    )
}

/// Tests a port by binding it. Busy ports name their owner.
fn port(n: &Needed) -> Finding {
    let label = format!("{} {}/{}", n.what, n.addr.port(), n.proto.as_str());
    let result = match n.proto {
        Proto::Udp => std::net::UdpSocket::bind(n.addr).map(drop),
        Proto::Tcp => std::net::TcpListener::bind(n.addr).map(drop),
    };
    match result {
        Ok(()) => finding(Severity::Ok, "port", format!("{label} is free"), None),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let owners = port_owners(n.proto, n.addr.port());
            let names: Vec<String> = owners
                .iter()
                .map(|(pid, comm)| format!("{comm} (pid {pid})"))
                .collect();
            if !owners.is_empty() && owners.iter().all(|(_, comm)| comm == "phoneboot") {
                return finding(
                    Severity::Ok,
                    "port",
                    format!(
                        "{label} is held by phoneboot ({}): it is running",
                        names.join(", ")
                    ),
                    None,
                );
            }
            let who = if names.is_empty() {
                "another program (run as root to see which)".to_owned()
            } else {
                names.join(", ")
            };
            finding(
                Severity::Problem,
                "port",
                format!("{label} is taken by {who}"),
                Some(format!(
                    "stop it (for tftpd-hpa: sudo systemctl disable --now tftpd-hpa), or move phoneboot to another address; see `ss -{}lpn 'sport = :{}'`",
                    if n.proto == Proto::Udp { "u" } else { "t" },
                    n.addr.port()
                )),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => finding(
            Severity::Problem,
            "port",
            format!("{label}: permission denied"),
            Some("run as root or grant cap_net_bind_service (see privileges)".into()),
        ),
        Err(e) => finding(
            Severity::Problem,
            "port",
            format!("{label}: {e}"),
            Some("check that the listen address exists on this machine".into()),
        ),
    }
}

/// Processes holding a local port, from /proc (socket inode → fd link).
pub fn port_owners(proto: Proto, port: u16) -> Vec<(u32, String)> {
    let mut inodes = Vec::new();
    for table in match proto {
        Proto::Udp => ["/proc/net/udp", "/proc/net/udp6"],
        Proto::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
    } {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            // TCP: only listeners (state 0A) hold a port for our purpose.
            if proto == Proto::Tcp && *state != "0A" {
                continue;
            }
            let Some(p) = local
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            if p == port && *inode != "0" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    let mut owners = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| l.to_str().map(|s| inodes.iter().any(|i| i == s)))
                .unwrap_or(false)
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm"))
                .map(|c| c.trim().to_owned())
                .unwrap_or_else(|_| "?".into());
            owners.push((pid, comm));
        }
    }
    owners
}

/// Rules that drop or reject a port phoneboot needs, read from
/// `iptables-save` (which also shows nftables rules made through the
/// iptables-nft front end).
fn firewall(needed: &[Needed]) -> Vec<Finding> {
    let Ok(out) = Command::new("iptables-save").output() else {
        return vec![finding(
            Severity::Ok,
            "firewall",
            "iptables-save is not installed; no iptables rules to check".into(),
            None,
        )];
    };
    if !out.status.success() {
        return vec![finding(
            Severity::Warning,
            "firewall",
            "cannot read the firewall rules (iptables-save failed; run as root)".into(),
            None,
        )];
    }
    let rules = String::from_utf8_lossy(&out.stdout);
    let mut found = Vec::new();
    for n in needed {
        for rule in blocking_rules(&rules, n.proto, n.addr.port()) {
            found.push(finding(
                Severity::Problem,
                "firewall",
                format!("{} {}/{} is blocked by: {rule}", n.what, n.addr.port(), n.proto.as_str()),
                Some(format!(
                    "remove that rule, or accept the port before it: sudo iptables -I INPUT -p {} --dport {} -j ACCEPT",
                    n.proto.as_str(),
                    n.addr.port()
                )),
            ));
        }
    }
    if found.is_empty() {
        found.push(finding(
            Severity::Ok,
            "firewall",
            "no INPUT rule drops or rejects phoneboot's ports".into(),
            None,
        ));
    }
    found
}

/// INPUT rules in `iptables-save` text that drop or reject `proto`/`port`,
/// and an INPUT policy of DROP with no ACCEPT for the port.
pub fn blocking_rules(rules: &str, proto: Proto, port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut accepted = false;
    let mut policy_drop = false;
    for line in rules.lines() {
        let line = line.trim();
        if line.starts_with(":INPUT DROP") {
            policy_drop = true;
        }
        let Some(rule) = line.strip_prefix("-A INPUT ") else {
            continue;
        };
        let words: Vec<&str> = rule.split_whitespace().collect();
        let value = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
                .copied()
        };
        let proto_ok = match value("-p") {
            None => true,
            Some(p) => p == proto.as_str(),
        };
        let port_ok = match value("--dport") {
            None => value("--dports").is_none_or(|list| list.split(',').any(|p| port_in(p, port))),
            Some(p) => port_in(p, port),
        };
        if !(proto_ok && port_ok) {
            continue;
        }
        match value("-j") {
            Some("DROP") | Some("REJECT") if !accepted => out.push(line.to_owned()),
            Some("ACCEPT") if value("--dport").is_some() || value("--dports").is_some() => {
                accepted = true
            }
            _ => {}
        }
    }
    if policy_drop && !accepted && out.is_empty() {
        out.push(":INPUT DROP (default policy, no ACCEPT for this port)".to_owned());
    }
    out
}

fn port_in(spec: &str, port: u16) -> bool {
    match spec.split_once(':') {
        Some((a, b)) => {
            let a = a.parse().unwrap_or(0);
            let b = b.parse().unwrap_or(u16::MAX);
            (a..=b).contains(&port)
        }
        None => spec.parse() == Ok(port),
    }
}

async fn interface_checks(cfg: &Config, name: &str, probe_wait: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    let iface = match dhcp_driver::Interface::lookup(name) {
        Ok(i) => i,
        Err(e) => {
            out.push(finding(
                Severity::Problem,
                "interface",
                format!("{e:#}"),
                Some(format!("give {name} an IPv4 address: sudo ip addr add 192.168.1.1/24 dev {name} && sudo ip link set {name} up")),
            ));
            return out;
        }
    };
    out.push(finding(
        Severity::Ok,
        "interface",
        format!("{name} has {}/{}", iface.addr, iface.prefix_len),
        None,
    ));
    let net = (iface.network(), iface.prefix_len);
    let mask = u32::MAX.checked_shl(32 - u32::from(net.1)).unwrap_or(0);
    let inside = |ip: Ipv4Addr| u32::from(ip) & mask == u32::from(net.0);
    for &(a, b) in &cfg.dhcp.pool {
        if !inside(a) || !inside(b) {
            out.push(finding(
                Severity::Problem,
                "pool",
                format!(
                    "dhcp.pool {a}-{b} is not inside {name}'s subnet {}/{}",
                    net.0, net.1
                ),
                Some(format!(
                    "use a range inside {}/{}, or leave dhcp.pool out to use the whole subnet",
                    net.0, net.1
                )),
            ));
        } else if (u32::from(a)..=u32::from(b)).contains(&u32::from(iface.addr)) {
            out.push(finding(
                Severity::Warning,
                "pool",
                format!("dhcp.pool {a}-{b} contains our own address {}; it is skipped, but a static address inside a pool confuses people", iface.addr),
                None,
            ));
        }
    }
    if !cfg.dhcp.tftp_servers.is_empty() && !cfg.dhcp.tftp_servers.contains(&iface.addr) {
        out.push(finding(
            Severity::Warning,
            "dhcp",
            format!(
                "dhcp.tftp_servers ({}) does not include our address {}: phones will fetch configs from another server",
                cfg.dhcp.tftp_servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                iface.addr
            ),
            Some(format!("add {} to dhcp.tftp_servers, or remove the key", iface.addr)),
        ));
    }
    match dhcp_driver::bind_on_interface(name, dhcp::CLIENT_PORT) {
        Err(e) => out.push(finding(
            Severity::Warning,
            "other dhcp",
            format!("cannot probe for another DHCP server: {e:#}"),
            None,
        )),
        Ok(socket) => match dhcp_driver::probe_other_servers(&socket, probe_wait).await {
            Ok(others) if others.is_empty() => out.push(finding(
                Severity::Ok,
                "other dhcp",
                format!("no other DHCP server answered on {name} within {probe_wait:?}"),
                None,
            )),
            Ok(others) => {
                for o in others {
                    out.push(finding(
                        Severity::Problem,
                        "other dhcp",
                        format!("another DHCP server answers on {name}: {o}"),
                        Some("stop or unplug it: phones that take its lease get no option 150 and never find phoneboot".into()),
                    ));
                }
            }
            Err(e) => out.push(finding(
                Severity::Warning,
                "other dhcp",
                format!("probe failed: {e:#}"),
                None,
            )),
        },
    }
    out
}

fn firmware(cfg: &Config) -> Finding {
    match super::check_config::missing_loads(cfg) {
        Err(e) => finding(Severity::Problem, "firmware", format!("{e:#}"), None),
        Ok(missing) if missing.is_empty() => finding(
            Severity::Ok,
            "firmware",
            "every load the desired state names is in the library".into(),
            None,
        ),
        Ok(missing) => finding(
            Severity::Problem,
            "firmware",
            missing.join("\n                    "),
            Some(
                "phoneboot firmware import BUNDLE (the .zip/.cop/.tar.gz that contains the load)"
                    .into(),
            ),
        ),
    }
}

/// Exit code: 0 when nothing is a problem.
pub fn exit_code(findings: &[Finding]) -> u8 {
    u8::from(findings.iter().any(|f| f.severity == Severity::Problem))
}

/// `phoneboot doctor`: every finding on stdout, the exit code from the worst.
pub fn command(common: &cli::Common, interface: Option<&str>) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(common)?;
    let interface = interface
        .map(str::to_owned)
        .or_else(|| cfg.interface.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut findings = runtime.block_on(run(&cfg, interface.as_deref(), cfg.dhcp.probe_wait));
    // The PostgreSQL client blocks: outside the runtime.
    findings.extend(shared_store(&cfg));
    for f in &findings {
        println!("{f}");
    }
    let problems = findings
        .iter()
        .filter(|f| f.severity == Severity::Problem)
        .count();
    if problems == 0 {
        println!("no problems found");
    } else {
        println!("{problems} problem(s) found");
    }
    Ok(ExitCode::from(exit_code(&findings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
        -A INPUT -p udp -m udp --dport 69 -j DROP\n\
        -A INPUT -p tcp -m multiport --dports 80,6970:6980 -j REJECT --reject-with icmp-port-unreachable\n\
        -A INPUT -p udp -m udp --dport 67 -j ACCEPT\n\
        -A INPUT -p udp -j DROP\nCOMMIT\n";

    #[test]
    fn rules_that_block_are_named() {
        assert_eq!(
            blocking_rules(RULES, Proto::Udp, 69),
            [
                "-A INPUT -p udp -m udp --dport 69 -j DROP",
                "-A INPUT -p udp -j DROP"
            ]
        );
        assert_eq!(blocking_rules(RULES, Proto::Tcp, 6970).len(), 1);
        assert!(
            blocking_rules(RULES, Proto::Udp, 67).is_empty(),
            "accepted before the catch-all drop"
        );
        assert!(blocking_rules(RULES, Proto::Tcp, 8067).is_empty());
        let policy = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p udp --dport 69 -j ACCEPT\nCOMMIT\n";
        assert!(blocking_rules(policy, Proto::Udp, 69).is_empty());
        assert_eq!(blocking_rules(policy, Proto::Udp, 67).len(), 1);
    }
}
