//! phoneboot: the provisioning server for Cisco IP phones. This crate is the
//! binary's body: command-line and config handling, and the tokio drivers
//! around the sans-IO cores (`tftp`, and later `dhcp` and `cisco`).
//!
//! `main.rs` only parses flags and calls [`run`]; each command has one
//! function here.

pub mod api;
pub mod asterisk;
pub mod cli;
pub mod config;
pub mod demo;
pub mod desired;
pub mod dhcp_driver;
pub mod doctor;
pub mod engine;
pub mod events;
pub mod fileserve;
pub mod firmware;
pub mod fsutil;
pub mod leases;
pub mod listener;
pub mod logging;
pub mod resolver;
pub mod simulate;
pub mod sntp_driver;
pub mod syslog_driver;
pub mod tftp_driver;
pub mod transfers;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, ServeArgs};
use config::Config;

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckConfig { path } => check_config(&path),
        Command::Firmware(cmd) => firmware::run(cmd),
        Command::Leases { common } => list_leases(&common),
        Command::Doctor { common, interface } => doctor(&common, interface.as_deref()),
        Command::Asterisk(cli::AsteriskCommand::Pjsip { common, output }) => {
            pjsip(&common, output.as_deref())
        }
        Command::DhcpOption { code, addresses } => dhcp_option(code, &addresses),
        Command::Simulate(args) => simulate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Status { api } => api::client::status(&api),
        Command::Phones { api } => api::client::phones(&api),
        Command::Events {
            api,
            follow,
            mac,
            kind,
            lines,
        } => api::client::events(&api, follow, mac.as_deref(), kind.as_deref(), lines),
    }
}

fn list_leases(common: &cli::Common) -> anyhow::Result<ExitCode> {
    let cfg = match &common.config {
        Some(p) => Config::load(p)?,
        None => Config::defaults(),
    };
    let data_dir = common.data_dir.clone().unwrap_or(cfg.data_dir);
    let leases = leases::list(&data_dir)?;
    let now_ms = leases::WallClock::now().to_unix_ms(std::time::Instant::now());
    println!("{:<17}  {:<15}  {:<10}  expires", "MAC", "IP", "model");
    for l in &leases {
        let mac = dhcp::Mac(l.mac).to_string();
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
        println!(
            "{mac:<17}  {:<15}  {:<10}  {expiry}",
            l.ip.to_string(),
            l.model.as_deref().unwrap_or("-")
        );
    }
    println!("{} leases", leases.len());
    Ok(ExitCode::SUCCESS)
}

fn doctor(common: &cli::Common, interface: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut cfg = match &common.config {
        Some(p) => Config::load(p)?,
        None => Config::defaults(),
    };
    if let Some(d) = &common.data_dir {
        cfg.data_dir = d.clone();
    }
    let interface = interface
        .map(str::to_owned)
        .or_else(|| cfg.interface.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let findings = runtime.block_on(doctor::run(&cfg, interface.as_deref(), cfg.dhcp.probe_wait));
    for f in &findings {
        println!("{f}");
    }
    let problems = findings
        .iter()
        .filter(|f| f.severity == doctor::Severity::Problem)
        .count();
    if problems == 0 {
        println!("no problems found");
    } else {
        println!("{problems} problem(s) found");
    }
    Ok(ExitCode::from(doctor::exit_code(&findings)))
}

fn pjsip(common: &cli::Common, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let cfg = match &common.config {
        Some(p) => Config::load(p)?,
        None => Config::defaults(),
    };
    let text = asterisk::pjsip_conf(&cfg.desired);
    match output {
        None => print!("{text}"),
        Some(path) => {
            fsutil::write_atomically(path, &text)?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn dhcp_option(code: u8, addresses: &[std::net::Ipv4Addr]) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        code == 150,
        "only option 150 (TFTP server addresses) is supported; option 66 is simply the first address as text"
    );
    for f in dhcp::option150_formats(addresses) {
        println!("{}:\n{}\n", f.name, f.text.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// DHCP as `serve --interface` runs it: the interface's subnet, our address
/// as server id and TFTP server, the Cisco catalog to name phone models.
fn dhcp_core(
    settings: &config::DhcpSettings,
    iface: &dhcp_driver::Interface,
) -> anyhow::Result<dhcp::Server> {
    let (network, prefix) = settings
        .subnet
        .unwrap_or((iface.network(), iface.prefix_len));
    let mut sc = dhcp::SubnetConfig::new(network, prefix);
    sc.server_addr = Some(iface.addr);
    sc.pool = settings.pool.clone();
    sc.exclude = settings.exclude.clone();
    sc.routers = settings.routers.clone();
    sc.dns = settings.dns.clone();
    sc.domain = settings.domain.clone();
    sc.ntp = settings.ntp.clone();
    sc.tftp_servers = settings.tftp_servers.clone();
    sc.lease_time = settings.lease_time;
    sc.reservations = settings.reservations.clone();
    sc.options = settings.options.clone();
    let bad = |e: dhcp::ConfigError| anyhow::anyhow!("dhcp configuration: {e}");
    let mut subnets = vec![dhcp::Subnet::try_from(sc).map_err(bad)?];
    for r in &settings.relay_subnets {
        let mut rc = dhcp::SubnetConfig::new(r.network.0, r.network.1);
        rc.pool = r.pool.clone();
        rc.exclude = r.exclude.clone();
        rc.routers = r.routers.clone();
        rc.dns = r.dns.clone().unwrap_or_else(|| settings.dns.clone());
        rc.domain = settings.domain.clone();
        rc.ntp = settings.ntp.clone();
        rc.tftp_servers = r
            .tftp_servers
            .clone()
            .unwrap_or_else(|| settings.tftp_servers.clone());
        rc.lease_time = r.lease_time.unwrap_or(settings.lease_time);
        rc.options = settings.options.clone();
        subnets.push(dhcp::Subnet::try_from(rc).map_err(bad)?);
    }
    let classifier: dhcp::Classifier =
        Arc::new(|vci: &[u8]| cisco::Model::from_vendor_class(vci).map(|m| m.name().to_owned()));
    let mut config = dhcp::ServerConfig::new(subnets)
        .map_err(bad)?
        .with_limits(settings.limits.clone())
        .map_err(bad)?
        .with_classifier(classifier);
    let mut by_model: std::collections::BTreeMap<&str, Vec<dhcp::OptionSpec>> = Default::default();
    for (model, spec) in &settings.model_options {
        by_model.entry(model).or_default().push(spec.clone());
    }
    for (model, specs) in by_model {
        config = config.with_model_options(model, specs).map_err(bad)?;
    }
    Ok(dhcp::Server::new(config))
}

fn check_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
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

/// Loads the desired state names that the firmware library lacks (or holds
/// incomplete). No library yet means nothing imported: every named load is
/// missing.
pub(crate) fn missing_loads(cfg: &Config) -> anyhow::Result<Vec<String>> {
    let dir = cfg.data_dir.join(firmware::LIBRARY_DIR);
    let complete: Vec<cisco::LoadName> = if dir.exists() {
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
    Ok(missing_from(cfg, &complete))
}

/// The desired state's loads that are not among `complete`, each with its fix.
fn missing_from(cfg: &Config, complete: &[cisco::LoadName]) -> Vec<String> {
    cfg.desired
        .check_library(&|l| complete.contains(l))
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn print_summary(cfg: &Config) {
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

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::for_serve(&args)?;
    std::fs::create_dir_all(&cfg.root)
        .with_context(|| format!("cannot create the TFTP root {}", cfg.root.display()))?;
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            cfg.data_dir.display()
        )
    })?;
    let root = resolver::RootSource::new(&cfg.root)
        .with_context(|| format!("cannot open the TFTP root {}", cfg.root.display()))?;
    let library_dir = cfg.data_dir.join(firmware::LIBRARY_DIR);
    let library = resolver::LibrarySource::open(&library_dir, cfg.default_protocol)
        .with_context(|| format!("cannot open the firmware library {}", library_dir.display()))?;
    // Phones that name a missing load get a diagnosis when they ask; the
    // operator hears it now.
    let complete: Vec<cisco::LoadName> = library
        .catalog()
        .into_iter()
        .filter(|l| l.complete)
        .map(|l| l.name)
        .collect();
    for m in missing_from(&cfg, &complete) {
        tracing::warn!("{m}");
    }
    if cfg.http.token.is_none() && !cfg.http.listen.ip().is_loopback() {
        anyhow::bail!(
            "the operator API would listen on {}, which other machines can reach, without a token: \
             set [http] token in the config (or --http-token, or PHONEBOOT_HTTP_TOKEN), \
             or keep --http-listen on 127.0.0.1",
            cfg.http.listen
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let signals = shutdown_signal();
        let shutdown = CancellationToken::new();
        let events = events::EventBus::new();
        // Follows the bus before anything emits, so the API sees every event.
        let event_log = Arc::new(api::eventlog::EventLog::new());
        let log_task = event_log.follow(&events, shutdown.clone());
        let transfers = transfers::TransferRegistry::new(events.clone());
        // DHCP only on an interface somebody named.
        let dhcp = match &cfg.interface {
            Some(name) => Some(start_dhcp(&cfg, name).await?),
            None => None,
        };
        let socket = tftp_driver::bind(cfg.tftp.listen)?;
        let local = socket.local_addr()?;
        let api_listener =
            api::bind_tcp(cfg.http.listen, None, "the operator API", "--http-listen")?;
        let api_addr = api_listener.local_addr()?;
        let phone_listener = match cfg.http.phone_listen {
            Some(addr) => Some(api::bind_tcp(
                addr,
                cfg.interface.as_deref(),
                "phone HTTP",
                "--phone-http-listen (or off)",
            )?),
            None => None,
        };
        let phone_addr = match &phone_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let files = std::fs::read_dir(root.root())
            .map(|d| d.count())
            .unwrap_or(0);
        // One line on stdout that people and tests can rely on: the first.
        println!(
            "phoneboot: TFTP listening on {local}, serving {} ({files} entries); data in {}",
            root.root().display(),
            cfg.data_dir.display()
        );
        let iface_addr = dhcp.as_ref().map(|d| d.iface.addr);
        let lookup = dhcp
            .as_ref()
            .map(|d| syslog_driver::lookup_in(d.server.clone()));
        let (time_tasks, listeners) = start_time_and_syslog(
            &cfg,
            iface_addr,
            lookup.clone(),
            events.clone(),
            shutdown.clone(),
        )?;
        tracing::debug!("listeners for phones: {listeners:?}");
        let engine = start_engine(&cfg, iface_addr, local, &listeners, lookup, &events)?;
        let engine_task = tokio::spawn(engine.clone().run_timers(shutdown.clone()));
        let resolver = Arc::new(
            resolver::Resolver::new(root)
                .with_library(library)
                .with_engine(engine.clone()),
        );
        if let Some(lib) = resolver.library() {
            let s = lib.summary();
            println!(
                "phoneboot: firmware library {}: {} complete loads served by file name, {} incomplete (never served); \
                 {} recovery files: {}",
                lib.dir().display(),
                s.complete,
                s.incomplete,
                lib.protocol(),
                if s.terms.is_empty() { "none".to_owned() } else { s.terms.join(", ") }
            );
        }
        println!(
            "phoneboot: API on http://{api_addr} ({})",
            if cfg.http.token.is_some() { "token required" } else { "no token" }
        );
        match phone_addr {
            Some(a) => println!("phoneboot: phone HTTP on {a}"),
            None => println!("phoneboot: phone HTTP off"),
        }
        let api_state = Arc::new(api::ApiState {
            started: std::time::Instant::now(),
            started_unix_ms: leases::WallClock::now().to_unix_ms(std::time::Instant::now()),
            services: api::Services {
                tftp: local,
                api: api_addr,
                phone_http: phone_addr,
                dhcp: dhcp.as_ref().map(|d| d.summary.clone()),
            },
            resolver: resolver.clone(),
            data_dir: cfg.data_dir.clone(),
            log: event_log,
            transfers: transfers.clone(),
            token: cfg.http.token.clone(),
            shutdown: shutdown.clone(),
            listeners: [("sntp", &listeners.sntp), ("syslog", &listeners.syslog)]
                .into_iter()
                .filter_map(|(name, c)| c.clone().map(|c| (name, c)))
                .collect(),
        });
        let api_task = tokio::spawn(api::serve(api_listener, api_state));
        let phone_task = phone_listener.map(|l| {
            let state = Arc::new(api::phone::PhoneHttp {
                resolver: resolver.clone(),
                events: events.clone(),
                transfers: transfers.clone(),
            });
            tokio::spawn(api::phone::serve(l, state, shutdown.clone()))
        });
        let tftp_task = tokio::spawn(tftp_driver::serve(
            cfg.tftp.clone(),
            socket,
            resolver,
            events.clone(),
            transfers,
            shutdown.clone(),
        ));
        let mut dhcp_task = None;
        let mut committer = None;
        if let Some(d) = dhcp {
            println!("phoneboot: DHCP on {}", d.summary);
            committer = Some(d.committer);
            let svc = dhcp_driver::DhcpService {
                iface: d.iface,
                server: d.server,
                commit: d.commit,
                events: events.clone(),
                conflict_check: cfg.dhcp.conflict_check,
            };
            dhcp_task = Some(tokio::spawn(dhcp_driver::serve(
                svc,
                d.socket67,
                Some(d.socket68),
                shutdown.clone(),
            )));
        }
        signals.await;
        tracing::info!("shutting down");
        shutdown.cancel();
        tftp_task.await.context("the TFTP server task failed")??;
        if let Some(t) = phone_task {
            t.await.context("the phone HTTP task failed")??;
        }
        api_task.await.context("the API task failed")??;
        let _ = log_task.await;
        if let Some(t) = dhcp_task {
            t.await.context("the DHCP server task failed")??;
        }
        for t in time_tasks {
            t.await.context("the SNTP or syslog task failed")??;
        }
        engine_task.await.context("the provisioning task failed")?;
        if let Some(c) = committer {
            tokio::task::spawn_blocking(move || c.shutdown()).await.ok();
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The provisioning engine, with the addresses phones are given: the SIP
/// server (configured, else ours), NTP and syslog (ours when we run them).
fn start_engine(
    cfg: &Config,
    iface_addr: Option<std::net::Ipv4Addr>,
    tftp_local: std::net::SocketAddr,
    listeners: &Listeners,
    lookup: Option<syslog_driver::LeaseLookup>,
    events: &events::EventBus,
) -> anyhow::Result<Arc<engine::Engine>> {
    let own = iface_addr
        .map(std::net::IpAddr::V4)
        .or_else(|| Some(tftp_local.ip()).filter(|ip| !ip.is_unspecified()));
    let own_text = own.map(|ip| ip.to_string()).unwrap_or_default();
    let mut site = cfg.desired.site.clone();
    site.sip_server = cfg.desired.sip_server_or(&own_text);
    if site.sip_server.is_empty() {
        tracing::warn!(
            "no SIP server: set [sip] server to the Asterisk host (phoneboot listens on all addresses, so it cannot offer its own)"
        );
    }
    if site.ntp_server.is_none() {
        site.ntp_server = listeners.ntp_for_phones.clone();
    }
    site.syslog_server = listeners.syslog_for_phones.clone();
    let lease_holder: Option<engine::LeaseHolder> = lookup.map(|l| {
        let f: engine::LeaseHolder = Arc::new(move |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => l(v4).and_then(|(mac, _)| mac.parse().ok()),
            std::net::IpAddr::V6(_) => None,
        });
        f
    });
    let engine = engine::Engine::new(
        engine::EngineConfig {
            desired: cfg.desired.clone(),
            sections: cfg.desired_sections.clone(),
            site,
            fallback: cfg.default_protocol,
            data_dir: cfg.data_dir.clone(),
            policy: cfg.desired.policy.clone(),
            lease_holder,
        },
        events.clone(),
    )?;
    let observer = engine.clone();
    events.observe(Arc::new(move |e| observer.observe(e)));
    Ok(engine)
}

/// The SNTP server and syslog receiver as the rest of `serve` sees them:
/// their counters (for a `/metrics` endpoint) and the addresses phones
/// should be given (for generated configs).
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    pub sntp: Option<Arc<listener::Counters>>,
    pub syslog: Option<Arc<listener::Counters>>,
    /// NTP server for phone configs (`sntp_server`, `dateTimeSetting/ntps`):
    /// `[time] ntp`, else our interface address when SNTP runs there.
    pub ntp_for_phones: Option<String>,
    /// Syslog server for phone configs: our interface address when the
    /// receiver runs there on port 514.
    pub syslog_for_phones: Option<String>,
}

type Task = tokio::task::JoinHandle<anyhow::Result<()>>;

/// Binds and spawns the SNTP server and syslog receiver that `cfg` turns on;
/// both are bound to the interface when one is served.
fn start_time_and_syslog(
    cfg: &Config,
    iface_addr: Option<std::net::Ipv4Addr>,
    lookup: Option<syslog_driver::LeaseLookup>,
    events: events::EventBus,
    shutdown: CancellationToken,
) -> anyhow::Result<(Vec<Task>, Listeners)> {
    let iface = cfg.interface.as_deref();
    let mut tasks = Vec::new();
    let mut listeners = Listeners {
        ntp_for_phones: cfg.phone_ntp_server(iface_addr),
        syslog_for_phones: cfg.phone_syslog_server(iface_addr),
        ..Listeners::default()
    };
    let sntp_socket = bind_listener(
        cfg.sntp_enabled(),
        cfg.time.sntp.is_some(),
        cfg.time.sntp_listen,
        iface,
        "SNTP",
        "phoneboot's SNTP server is off, phones are pointed at this host's NTP server on port 123 instead",
    )?;
    if let Some(socket) = sntp_socket {
        let local = socket.local_addr()?;
        let policy = sntp::Policy {
            host_is_reference: cfg.time.host_is_reference,
        };
        let status = sntp_driver::clock_status();
        println!(
            "phoneboot: SNTP on {local}{}: {}",
            iface.map(|i| format!(" ({i})")).unwrap_or_default(),
            sntp_driver::describe(&status, &policy)
        );
        tracing::info!(
            "sntp listening on {local}; host clock synchronised={} host_is_reference={}",
            status.synchronised,
            policy.host_is_reference
        );
        let counters = Arc::new(listener::Counters::default());
        listeners.sntp = Some(counters.clone());
        tasks.push(tokio::spawn(sntp_driver::serve(
            socket,
            policy,
            counters,
            shutdown.clone(),
        )));
    }
    let syslog_socket = bind_listener(
        cfg.syslog_enabled(),
        cfg.syslog.enabled.is_some(),
        cfg.syslog.listen,
        iface,
        "syslog",
        "the syslog receiver is off (another syslog daemon holds the port)",
    )?;
    if syslog_socket.is_none() {
        listeners.syslog_for_phones = None;
    }
    if let Some(socket) = syslog_socket {
        let local = socket.local_addr()?;
        println!(
            "phoneboot: syslog on {local}{}",
            iface.map(|i| format!(" ({i})")).unwrap_or_default()
        );
        tracing::info!("syslog listening on {local}");
        let counters = Arc::new(listener::Counters::default());
        listeners.syslog = Some(counters.clone());
        tasks.push(tokio::spawn(syslog_driver::serve(
            socket, lookup, events, counters, shutdown,
        )));
    }
    Ok((tasks, listeners))
}

/// Binds an SNTP or syslog listener that is `enabled`. Asked for
/// explicitly, a failure stops the start; on by default (with
/// `--interface`), a daemon already holding the port serves phones just as
/// well, so it is a warning and the listener stays off.
fn bind_listener(
    enabled: bool,
    explicit: bool,
    addr: std::net::SocketAddr,
    iface: Option<&str>,
    what: &str,
    when_off: &str,
) -> anyhow::Result<Option<tokio::net::UdpSocket>> {
    if !enabled {
        return Ok(None);
    }
    match listener::bind_udp(addr, iface, what) {
        Ok(socket) => Ok(Some(socket)),
        Err(e) if !explicit => {
            tracing::warn!("{e:#}; {when_off}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

struct DhcpStart {
    iface: dhcp_driver::Interface,
    server: Arc<std::sync::Mutex<dhcp::Server>>,
    commit: dhcp_driver::Commit,
    committer: store::Committer<store::SqliteStore>,
    socket67: tokio::net::UdpSocket,
    socket68: tokio::net::UdpSocket,
    summary: String,
}

async fn start_dhcp(cfg: &Config, name: &str) -> anyhow::Result<DhcpStart> {
    let iface = dhcp_driver::Interface::lookup(name)?;
    let mut settings = cfg.dhcp.clone();
    // Option 42: `[dhcp] ntp` wins; else the phones' NTP server (ours).
    if settings.ntp.is_empty() {
        settings.ntp = cfg
            .phone_ntp_server(Some(iface.addr))
            .and_then(|n| n.parse().ok())
            .into_iter()
            .collect();
    }
    let mut server = dhcp_core(&settings, &iface)?;
    // Probe before binding port 67, so the probe is not queued for us.
    let socket68 = dhcp_driver::bind_on_interface(name, dhcp::CLIENT_PORT)?;
    let others = dhcp_driver::probe_other_servers(&socket68, cfg.dhcp.probe_wait).await?;
    let socket67 = dhcp_driver::bind_on_interface(name, dhcp::SERVER_PORT)?;
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(ToString::to_string).collect();
        if cfg.dhcp.allow_other_dhcp {
            tracing::warn!(
                "another DHCP server answers on {name}: {}; starting anyway (--allow-other-dhcp)",
                list.join("; ")
            );
        } else {
            anyhow::bail!(
                "another DHCP server answers on {name}: {}. Two DHCP servers on one segment hand out \
                 conflicting addresses, and phones that get the other server's lease get no option 150. \
                 Stop that server (or unplug it), or start with --allow-other-dhcp",
                list.join("; ")
            );
        }
    }
    let (commit, committer) = leases::open_for_serving(&cfg.data_dir, &mut server)?;
    let tftp: Vec<String> = if cfg.dhcp.tftp_servers.is_empty() {
        vec![iface.addr.to_string()]
    } else {
        cfg.dhcp
            .tftp_servers
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let ntp: Vec<String> = settings.ntp.iter().map(ToString::to_string).collect();
    let summary = format!(
        "{} ({}/{}), option 150 = {}, option 66 = {}, option 42 = {}",
        iface.name,
        iface.addr,
        iface.prefix_len,
        tftp.join(","),
        tftp.first().map(String::as_str).unwrap_or("-"),
        if ntp.is_empty() {
            "-".to_owned()
        } else {
            ntp.join(",")
        },
    );
    Ok(DhcpStart {
        iface,
        server: Arc::new(std::sync::Mutex::new(server)),
        commit,
        committer,
        socket67,
        socket68,
        summary,
    })
}

/// Installs the SIGTERM/SIGINT handlers now (so a signal that arrives while
/// the rest starts up is not fatal) and returns a future that ends on one.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
