//! `phoneboot serve`: opens everything, starts every listener and driver,
//! and shuts them down in order on SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::cli::ServeArgs;
use crate::clock::WallClock;
use crate::commands::{
    check_config::{complete_in_root, missing_from},
    firmware,
};
use crate::config::Config;
use crate::events;
use crate::net::{
    self, dhcp as dhcp_driver, listener, sntp as sntp_driver, syslog as syslog_driver, transfers,
};
use crate::provision::{engine, resolver};

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::for_serve(&args)?;
    std::fs::create_dir_all(&cfg.root)
        .with_context(|| format!("cannot create the TFTP root {}", cfg.root.display()))?;
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            cfg.data_dir.display()
        )
    })?;
    let cache = cfg
        .tftp
        .cache_bytes
        .map_or_else(resolver::FileCache::default, resolver::FileCache::new);
    let root = resolver::RootSource::with_cache(&cfg.root, cache)
        .with_context(|| format!("cannot open the TFTP root {}", cfg.root.display()))?;
    let library_dir = cfg.data_dir.join(firmware::LIBRARY_DIR);
    let library = resolver::LibrarySource::open(&library_dir, cfg.default_protocol)
        .with_context(|| format!("cannot open the firmware library {}", library_dir.display()))?;
    // Phones that name a missing load get a diagnosis when they ask; the
    // operator hears it now.
    let root_complete = complete_in_root(&cfg.root);
    let complete: Vec<cisco::LoadName> = library
        .catalog()
        .into_iter()
        .filter(|l| l.complete)
        .map(|l| l.name)
        .chain(root_complete)
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
        event_log.attach(&events);
        let transfers = transfers::TransferRegistry::new(events.clone());
        // DHCP only on an interface somebody named.
        let dhcp = match &cfg.interface {
            Some(name) => Some(start_dhcp(&cfg, name).await?),
            None => None,
        };
        let socket = net::tftp::bind(cfg.tftp.listen)?;
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
        let own_ip = own_address(iface_addr, local);
        let sccp_listener = match cfg.sccp_enabled() {
            true => Some(api::bind_tcp(
                cfg.sccp.listen,
                cfg.interface.as_deref(),
                "the SCCP listener",
                "--sccp-listen (or off)",
            )?),
            false => None,
        };
        let own_sccp = match &sccp_listener {
            Some(l) => {
                let bound = l.local_addr()?;
                let host = Some(bound.ip()).filter(|ip| !ip.is_unspecified()).or(own_ip);
                match host {
                    Some(host) => Some(std::net::SocketAddr::new(host, bound.port())),
                    None => {
                        tracing::warn!(
                            "SCCP listener on {bound}, but configs cannot name an address for it:                              serve an --interface or give --sccp-listen a specific address"
                        );
                        None
                    }
                }
            }
            None => None,
        };
        let engine = start_engine(
            &cfg,
            iface_addr,
            local,
            &listeners,
            lookup.clone(),
            own_sccp,
            &events,
        )?;
        let engine_task = tokio::spawn(engine.clone().run_timers(shutdown.clone()));
        // Servers of one PostgreSQL store share run-time desired-state edits.
        let store_sync = match &cfg.store {
            crate::config::StoreLocation::Postgres(url) => {
                // The same name the DHCP side writes leases and beats under:
                // observations are addressed to it.
                let me = dhcp
                    .as_ref()
                    .and_then(|d| d.ha.as_ref().map(|(h, _)| h.name.clone()))
                    .unwrap_or_else(|| {
                        net::dhcp::leases::member_name(cfg.ha.name.as_deref(), own_ip)
                    });
                let sync = Arc::new(crate::sync::StoreSync::new(url, &me));
                let e = engine.clone();
                let s = sync.clone();
                // The edits already in the store, before anything is served.
                match tokio::task::block_in_place(|| s.pull(&e)) {
                    Ok(n) if n > 0 => tracing::info!("desired state: {n} run-time edits from the shared store"),
                    Ok(_) => {}
                    Err(err) => tracing::warn!("shared desired state: {err:#}"),
                }
                Some(sync)
            }
            crate::config::StoreLocation::Sqlite => None,
        };
        let sync_task = store_sync
            .clone()
            .map(|s| tokio::spawn(s.run(engine.clone(), shutdown.clone())));
        let control = start_control(
            &cfg,
            sccp_listener,
            own_sccp,
            own_ip,
            dhcp.as_ref(),
            lookup,
            &engine,
            &events,
            &shutdown,
        )?;
        let resolver = Arc::new(
            resolver::Resolver::new(root)
                .with_root_files(cfg.desired.root_files)
                .with_library(library)
                .with_generated(engine.clone()),
        );
        // What the operator's own files change, in one line each.
        for note in resolver.root_notes() {
            println!("phoneboot: {note}");
            if note.problem.is_some() {
                tracing::warn!("TFTP root: {note}");
            } else {
                tracing::info!("TFTP root: {note}");
            }
        }
        let root_loads = resolver.root_loads();
        if !root_loads.is_empty() {
            println!(
                "phoneboot: firmware in the TFTP root: {} complete loads offered to the planner{}",
                root_loads.iter().filter(|l| l.load.complete).count(),
                incomplete_root_loads(&root_loads)
            );
        }
        let rescan_task = tokio::spawn(rescan_root(resolver.clone(), shutdown.clone()));
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
            started_unix_ms: WallClock::now().to_unix_ms(std::time::Instant::now()),
            services: api::Services {
                tftp: local,
                api: api_addr,
                phone_http: phone_addr,
                dhcp: dhcp.as_ref().map(|d| d.summary.clone()),
            },
            resolver: resolver.clone(),
            engine: engine.clone(),
            data_dir: cfg.data_dir.clone(),
            store: cfg.store.clone(),
            peers: dhcp.as_ref().and_then(|d| d.ha.as_ref().map(|(_, p)| p.clone())),
            store_sync: store_sync.clone(),
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
            let state = Arc::new(net::phone_http::PhoneHttp {
                resolver: resolver.clone(),
                events: events.clone(),
                transfers: transfers.clone(),
            });
            tokio::spawn(net::phone_http::serve(l, state, shutdown.clone()))
        });
        let tftp_task = tokio::spawn(net::tftp::serve(
            cfg.tftp.clone(),
            socket,
            resolver,
            events.clone(),
            transfers,
            shutdown.clone(),
        ));
        let mut dhcp_task = None;
        let mut ha_task = None;
        let mut committer = None;
        if let Some(d) = dhcp {
            println!("phoneboot: DHCP on {}", d.summary);
            println!(
                "phoneboot: leases in {}",
                cfg.store.describe(&cfg.data_dir)
            );
            committer = d.committer;
            let peers = d.ha.as_ref().map(|(_, p)| p.clone());
            if let Some((ha, peers)) = d.ha {
                let live = peers.lock().map(|l| l.len()).unwrap_or(0);
                println!(
                    "phoneboot: one of {live} live server(s) sharing the store, as {}; a peer silent for {}s loses its share",
                    ha.name,
                    ha.takeover_after.as_secs()
                );
                // The engine passes what it sees of the others' phones to them.
                engine.enable_forwarding();
                let e = engine.clone();
                let owners: dhcp_driver::ha::Owners =
                    Arc::new(move |leased, live| e.learn_owners(leased, live));
                ha_task = Some(tokio::spawn(ha.run(
                    d.server.clone(),
                    peers,
                    Some(owners),
                    shutdown.clone(),
                )));
            }
            let svc = dhcp_driver::DhcpService {
                iface: d.iface,
                server: d.server,
                leases: d.leases,
                events: events.clone(),
                conflict_check: cfg.dhcp.conflict_check,
                peers,
            };
            dhcp_task = Some(dhcp_driver::spawn_serving_thread(
                svc,
                d.socket67,
                Some(d.socket68),
                shutdown.clone(),
            )?);
        }
        signals.await;
        tracing::info!("shutting down");
        shutdown.cancel();
        tftp_task.await.context("the TFTP server task failed")??;
        let _ = rescan_task.await;
        if let Some(t) = ha_task {
            let _ = t.await;
        }
        if let Some(t) = sync_task {
            let _ = t.await;
        }
        if let Some(t) = phone_task {
            t.await.context("the phone HTTP task failed")??;
        }
        api_task.await.context("the API task failed")??;
        if let Some(t) = dhcp_task {
            t.await.context("the DHCP server task failed")??;
        }
        for t in time_tasks {
            t.await.context("the SNTP or syslog task failed")??;
        }
        for t in control.tasks {
            t.await.context("the SCCP or NOTIFY task failed")??;
        }
        engine_task.await.context("the provisioning task failed")?;
        if let Some(c) = committer {
            tokio::task::spawn_blocking(move || c.shutdown()).await.ok();
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Our address as phones reach it: the interface's, else the TFTP
/// listener's when it is a specific one.
fn own_address(
    iface_addr: Option<std::net::Ipv4Addr>,
    tftp_local: std::net::SocketAddr,
) -> Option<std::net::IpAddr> {
    iface_addr
        .map(std::net::IpAddr::V4)
        .or_else(|| Some(tftp_local.ip()).filter(|ip| !ip.is_unspecified()))
}

/// The provisioning engine, with the addresses phones are given: the SIP
/// server (configured, else ours), NTP and syslog (ours when we run them),
/// and our SCCP listener for the stepping-stone loads.
fn start_engine(
    cfg: &Config,
    iface_addr: Option<std::net::Ipv4Addr>,
    tftp_local: std::net::SocketAddr,
    listeners: &Listeners,
    lookup: Option<syslog_driver::LeaseLookup>,
    own_sccp: Option<std::net::SocketAddr>,
    events: &events::EventBus,
) -> anyhow::Result<Arc<engine::Engine>> {
    let own = own_address(iface_addr, tftp_local);
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
            std::net::IpAddr::V4(v4) => l(v4).map(|(mac, _)| mac),
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
            own_sccp: own_sccp.map(|a| a.to_string()),
            sip_port: cfg.notify.phone_port,
        },
        events.clone(),
    )?;
    let observer = engine.clone();
    events.observe(Arc::new(move |e| observer.observe(e)));
    Ok(engine)
}

/// The drivers that reach phones between boots, handed to the engine.
struct Control {
    tasks: Vec<Task>,
}

/// Routes the engine's orders to the SCCP listener and the NOTIFY sender.
struct Drivers {
    sccp: Option<Arc<net::sccp::SccpServer>>,
    notify: Option<net::sip_notify::Notifier>,
}

impl crate::provision::PhoneControl for Drivers {
    fn sccp_reset(
        &self,
        mac: cisco::Mac,
        cause: &str,
    ) -> Result<(), crate::provision::ControlError> {
        match &self.sccp {
            Some(s) => s.reset(mac, cause),
            None => Err(crate::provision::ControlError::SccpOff),
        }
    }

    fn sip_notify(
        &self,
        order: crate::provision::NotifyOrder,
    ) -> Result<(), crate::provision::ControlError> {
        match &self.notify {
            Some(n) => n.send(order),
            None => Err(crate::provision::ControlError::NotifyOff),
        }
    }
}

/// Starts the SCCP listener (bound already) and the NOTIFY sender, and
/// hands both to the engine.
#[allow(clippy::too_many_arguments)]
fn start_control(
    cfg: &Config,
    sccp_listener: Option<tokio::net::TcpListener>,
    own_sccp: Option<std::net::SocketAddr>,
    own_ip: Option<std::net::IpAddr>,
    dhcp: Option<&DhcpStart>,
    lookup: Option<syslog_driver::LeaseLookup>,
    engine: &Arc<engine::Engine>,
    events: &events::EventBus,
    shutdown: &CancellationToken,
) -> anyhow::Result<Control> {
    use crate::config::sccp::in_net;
    use net::sccp::Admission;
    let mut tasks = Vec::new();
    let mut drivers = Drivers {
        sccp: None,
        notify: None,
    };
    if let Some(listener) = sccp_listener {
        // The subnets the DHCP server serves, as it holds them.
        let served: Vec<(std::net::Ipv4Addr, u8)> = dhcp
            .map(|d| {
                let server = d.server.lock().unwrap_or_else(|p| p.into_inner());
                server
                    .config()
                    .subnets()
                    .iter()
                    .map(|s| (s.network(), s.prefix_len()))
                    .collect()
            })
            .unwrap_or_default();
        let allow = cfg.sccp.allow.clone();
        let known = engine.clone();
        let admit: net::sccp::Admit = Arc::new(move |ip: std::net::IpAddr| {
            let std::net::IpAddr::V4(v4) = ip else {
                return Admission::Refused(format!("{ip}: phones register over IPv4"));
            };
            if let Some((mac, _)) = lookup.as_ref().and_then(|l| l(v4)) {
                return Admission::Lease(mac);
            }
            if served.iter().chain(&allow).any(|n| in_net(v4, *n)) {
                return match known.mac_for_ip(ip) {
                    Some(mac) => Admission::Known(mac),
                    None => Admission::Allowed,
                };
            }
            Admission::Refused(format!(
                "{ip} holds no lease from phoneboot and is in no served subnet nor [sccp] allow"
            ))
        });
        let mut settings = net::sccp::Settings {
            max_sessions: cfg.sccp.max_sessions,
            max_per_address: cfg.sccp.max_per_address,
            ..net::sccp::Settings::default()
        };
        settings.session.keepalive = cfg.sccp.keepalive;
        settings.session.secondary_keepalive = cfg.sccp.keepalive;
        settings.session.idle_timeout = cfg.sccp.keepalive * 3;
        let server = net::sccp::SccpServer::new(settings, admit, events.clone());
        let bound = listener.local_addr()?;
        println!(
            "phoneboot: SCCP call manager on {bound}{}",
            match own_sccp {
                Some(a) => format!(" (stepping-stone configs name {a})"),
                None => " (no address for configs to name)".to_owned(),
            }
        );
        tasks.push(tokio::spawn(net::sccp::serve(
            listener,
            server.clone(),
            shutdown.clone(),
        )));
        drivers.sccp = Some(server);
    }
    if cfg.notify.enabled {
        let socket = net::listener::bind_udp(cfg.notify.listen, None, "the NOTIFY sender")?;
        let port = socket.local_addr()?.port();
        let ip = Some(cfg.notify.listen.ip())
            .filter(|ip| !ip.is_unspecified())
            .or(own_ip);
        match ip {
            Some(ip) => {
                let local = std::net::SocketAddr::new(ip, port);
                let (notifier, task) =
                    net::sip_notify::start(socket, local, events.clone(), shutdown.clone());
                println!(
                    "phoneboot: NOTIFY to SIP phones on port {} from {local}",
                    cfg.notify.phone_port
                );
                tasks.push(task);
                drivers.notify = Some(notifier);
            }
            None => tracing::warn!(
                "NOTIFY off: phones could not answer (no address of ours is known); serve an \
                 --interface or set [sip] notify_listen"
            ),
        }
    }
    engine.set_control(Arc::new(drivers));
    Ok(Control { tasks })
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
    leases: dhcp_driver::leases::LeaseSink,
    /// The commit thread of a PostgreSQL store, stopped after the loop.
    committer: Option<store::Committer<dhcp_driver::leases::AnyStore>>,
    socket67: tokio::net::UdpSocket,
    socket68: tokio::net::UdpSocket,
    summary: String,
    ha: Option<(dhcp_driver::ha::Ha, dhcp_driver::ha::Peers)>,
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
    let mut server = crate::config::dhcp_core(&settings, &iface)?;
    // Servers sharing a PostgreSQL store split the clients between them.
    // This server's name among its peers, and in the rows it writes.
    let me = dhcp_driver::leases::member_name(cfg.ha.name.as_deref(), Some(iface.addr.into()));
    let ha = match &cfg.store {
        crate::config::StoreLocation::Postgres(url) => Some(dhcp_driver::ha::Ha {
            name: me.clone(),
            addr: iface.addr,
            url: url.clone(),
            takeover_after: cfg.ha.takeover_after,
        }),
        crate::config::StoreLocation::Sqlite => None,
    };
    let known_peers = match &ha {
        Some(h) => tokio::task::block_in_place(|| h.peers_now())?,
        None => Vec::new(),
    };
    // Probe before binding port 67, so the probe is not queued for us.
    let socket68 = dhcp_driver::bind_on_interface(name, dhcp::CLIENT_PORT)?;
    let mut others = dhcp_driver::probe_other_servers(&socket68, cfg.dhcp.probe_wait).await?;
    let socket67 = dhcp_driver::bind_on_interface(name, dhcp::SERVER_PORT)?;
    // A server of our own store is a peer, not a rogue.
    others.retain(|o| {
        let peer = known_peers
            .iter()
            .find(|p| p.addr == o.ip || Some(p.addr) == o.server_id);
        if let Some(p) = peer {
            tracing::info!(
                "{} answered the start-up probe: it is {}, a server of the same store",
                o.ip,
                p.name
            );
        }
        peer.is_none()
    });
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
    // A PostgreSQL store connects with a blocking client: off the async threads.
    let (leases, committer) = tokio::task::block_in_place(|| {
        dhcp_driver::leases::open_for_serving(&cfg.store, &cfg.data_dir, &me, &mut server)
    })?;
    // The first heartbeat before serving: the share is right from the start.
    let peers: Option<dhcp_driver::ha::Peers> = match &ha {
        Some(h) => {
            let live = tokio::task::block_in_place(|| h.start(&mut server))?;
            Some(Arc::new(std::sync::Mutex::new(live)))
        }
        None => None,
    };
    let tftp: Vec<String> = if cfg.dhcp.tftp_servers.is_empty() {
        let mut list = vec![iface.addr.to_string()];
        if let Some(p) = &peers {
            let live = p.lock().map(|l| l.clone()).unwrap_or_default();
            list.extend(
                live.iter()
                    .filter(|p| p.addr != iface.addr)
                    .map(|p| p.addr.to_string()),
            );
        }
        list
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
        leases,
        committer,
        socket67,
        socket68,
        summary,
        ha: ha.zip(peers),
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

/// ` ; incomplete (never offered): X (lacks a, b)`, or nothing.
fn incomplete_root_loads(loads: &[library::folder::FolderLoad]) -> String {
    let parts: Vec<String> = loads
        .iter()
        .filter(|l| !l.load.complete)
        .map(|l| match &l.problem {
            Some(p) => format!("{} ({p})", l.load.name),
            None => format!("{} (lacks {})", l.load.name, l.load.missing.join(", ")),
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("; incomplete, not offered: {}", parts.join("; "))
    }
}

/// Firmware unzipped into (or removed from) the root reaches the planner
/// without a restart: a stamp of the root's top level every few seconds,
/// on a blocking thread, never on a transfer's path.
async fn rescan_root(resolver: Arc<resolver::Resolver>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let r = resolver.clone();
        let _ = tokio::task::spawn_blocking(move || r.rescan_root()).await;
    }
}
