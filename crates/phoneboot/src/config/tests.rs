use super::*;

#[test]
fn empty_file_gives_defaults() {
    let c = Config::parse_str("", "t.toml").unwrap();
    assert_eq!(c.root, PathBuf::from("tftpboot"));
    assert_eq!(c.data_dir, PathBuf::from("phoneboot-data"));
    assert_eq!(c.tftp.listen, "0.0.0.0:69".parse().unwrap());
    assert_eq!(c.tftp.policy, tftp::Policy::default());
}

#[test]
fn tftp_settings_are_read() {
    let c = Config::parse_str(
        "[tftp]\nlisten = \"127.0.0.1:6969\"\nmax_blksize = 8192\nmax_windowsize = 16\nmax_timeout = \"3s\"\nmax_per_client = 200\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.tftp.listen.port(), 6969);
    assert_eq!(c.tftp.policy.max_blksize, 8192);
    assert_eq!(c.tftp.policy.max_windowsize, 16);
    assert_eq!(c.tftp.policy.max_rto, Duration::from_secs(3));
    assert_eq!(c.tftp.limits.max_per_client, 200);
}

#[test]
fn tftp_cache_size_and_threads() {
    let c = Config::parse_str("", "t.toml").unwrap();
    assert_eq!(c.tftp.cache_bytes, None);
    assert_eq!(c.tftp.threads, DEFAULT_TFTP_THREADS);
    for (text, want) in [
        ("cache_bytes = 1000", 1000),
        ("cache_bytes = 0", 0),
        ("cache_bytes = \"64MiB\"", 64 << 20),
        ("cache_bytes = \"512 KiB\"", 512 << 10),
        ("cache_bytes = \"1GiB\"", 1 << 30),
    ] {
        let c = Config::parse_str(&format!("[tftp]\n{text}\nthreads = 2\n"), "t.toml").unwrap();
        assert_eq!(c.tftp.cache_bytes, Some(want), "{text}");
        assert_eq!(c.tftp.threads, 2);
    }
    for bad in [
        "cache_bytes = \"64MB\"",
        "cache_bytes = \"lots\"",
        "threads = 0",
        "threads = 65",
    ] {
        let e = Config::parse_str(&format!("[tftp]\n{bad}\n"), "t.toml")
            .unwrap_err()
            .to_string();
        let key = bad.split(' ').next().unwrap();
        assert!(
            e.contains(&format!("tftp.{key}")) && e.contains("t.toml"),
            "{e}"
        );
    }
}

#[test]
fn errors_name_file_and_key() {
    let cases = [
        (
            "[tftp]\nmax_blksize = 4\n",
            "t.toml: tftp.max_blksize: 4 is outside",
        ),
        (
            "[tftp]\nlisten = \"nowhere\"\n",
            "t.toml: tftp.listen: \"nowhere\" is not an address:port",
        ),
        (
            "[tftp]\nmax_timeout = \"soon\"\n",
            "t.toml: tftp.max_timeout: \"soon\" is not a duration",
        ),
        (
            "[tftp]\nmax_transfers = 0\n",
            "t.toml: tftp.max_transfers: must be at least 1",
        ),
        (
            "[tftp]\nmin_timeout = \"5s\"\n",
            "t.toml: tftp.min_timeout:",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse_str(text, "t.toml").unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: got {err}");
    }
    let err = Config::parse_str("[tftp]\nblocksize = 4\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown field `blocksize`") && err.contains("line 2"),
        "{err}"
    );
    let err = Config::parse_str("[tftp\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("t.toml: "), "{err}");
}

#[test]
fn the_shared_example_parses() {
    let text = include_str!("../../../../examples/phoneboot.toml");
    let c = Config::parse_str(text, "phoneboot.toml").unwrap();
    assert_eq!(c.interface.as_deref(), Some("eth0"));
    assert_eq!(c.desired.site.sip_server, "192.168.1.10");
    assert_eq!(c.desired.phones.len(), 2);
    assert_eq!(c.default_protocol, cisco::Protocol::Sip);
    assert_eq!(
        c.dhcp.tftp_servers,
        vec![Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(192, 168, 1, 2)]
    );
    assert_eq!(
        c.dhcp.pool,
        vec![(
            Ipv4Addr::new(192, 168, 1, 100),
            Ipv4Addr::new(192, 168, 1, 250)
        )]
    );
    assert_eq!(c.dhcp.reservations.len(), 1);
    assert_eq!(c.dhcp.lease_time, Duration::from_secs(3600));
}

#[test]
fn relay_subnets_and_model_options() {
    let c = Config::parse_str(
        "[dhcp]\ndns = [\"10.0.0.53\"]\n\
         [[dhcp.relay_subnet]]\nsubnet = \"10.20.0.0/24\"\npool = [\"10.20.0.10-10.20.0.99\"]\nrouter = \"10.20.0.1\"\n\
         [[dhcp.model_option]]\nmodel = \"CP-7960G\"\ncode = 150\ntype = \"ips\"\nvalue = [\"10.0.0.7\"]\n",
        "t.toml",
    )
    .unwrap();
    let r = &c.dhcp.relay_subnets[0];
    assert_eq!(r.network, (Ipv4Addr::new(10, 20, 0, 0), 24));
    assert_eq!(r.routers, vec![Ipv4Addr::new(10, 20, 0, 1)]);
    assert_eq!(r.dns, None, "inherits [dhcp].dns when serving");
    assert_eq!(
        c.dhcp.model_options[0].0, "7960",
        "model names are normalised"
    );
    let err = Config::parse_str(
        "[[dhcp.model_option]]\nmodel = \"7999\"\ncode = 150\ntype = \"ips\"\nvalue = \"10.0.0.7\"\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("t.toml: dhcp.model_option.model: \"7999\" is not a known phone model"),
        "{err}"
    );
}

#[test]
fn dhcp_errors_name_the_key() {
    let cases = [
        (
            "[dhcp]\npool = [\"10.0.0.9-10.0.0.1\"]\n",
            "t.toml: dhcp.pool: range",
        ),
        (
            "[dhcp]\nrouter = \"gateway\"\n",
            "t.toml: dhcp.router: \"gateway\" is not an IPv4 address",
        ),
        (
            "[[dhcp.reservation]]\nmac = \"zz\"\nip = \"10.0.0.1\"\n",
            "t.toml: dhcp.reservation.mac:",
        ),
        (
            "[[dhcp.option]]\ncode = 42\ntype = \"float\"\nvalue = 1\n",
            "t.toml: dhcp.option: code 42: type \"float\"",
        ),
        ("[dhcp]\nlease_time = \"1s\"\n", "t.toml: dhcp.lease_time:"),
        (
            "[defaults]\nprotocol = \"h323\"\n",
            "t.toml: [defaults]: protocol: \"h323\" is not \"sip\" or \"sccp\"",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse_str(text, "t.toml").unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: got {err}");
    }
    let c = Config::parse_str(
        "[[dhcp.option]]\ncode = 160\ntype = \"ips\"\nvalue = [\"10.0.0.1\", \"10.0.0.2\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.dhcp.options.len(), 1);
}

#[test]
fn default_protocol_is_sip_unless_configured() {
    assert_eq!(
        Config::parse_str("", "t.toml").unwrap().default_protocol,
        cisco::Protocol::Sip
    );
    let c = Config::parse_str("[defaults]\nprotocol = \"SCCP\"\n", "t.toml").unwrap();
    assert_eq!(c.default_protocol, cisco::Protocol::Sccp);
}

#[test]
fn sntp_and_syslog_follow_the_interface_unless_configured() {
    let c = Config::parse_str("", "t.toml").unwrap();
    assert!(!c.sntp_enabled() && !c.syslog_enabled());
    assert_eq!(c.phone_ntp_server(None), None);
    let c = Config::parse_str("[server]\ninterface = \"eth1\"\n", "t.toml").unwrap();
    assert!(c.sntp_enabled() && c.syslog_enabled());
    let ip = Some(Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(c.phone_ntp_server(ip).as_deref(), Some("10.0.0.1"));
    assert_eq!(c.phone_syslog_server(ip).as_deref(), Some("10.0.0.1"));
    assert!(!c.time.host_is_reference);
    let c = Config::parse_str(
        "[server]\ninterface = \"eth1\"\n[time]\nsntp = false\n[syslog]\nenabled = false\n",
        "t.toml",
    )
    .unwrap();
    assert!(!c.sntp_enabled() && !c.syslog_enabled());
    assert_eq!(c.phone_ntp_server(ip), None);
    let c = Config::parse_str(
        "[time]\nntp = \"10.9.9.9\"\nhost_is_reference = true\n[syslog]\nlisten = \"127.0.0.1:5514\"\nenabled = true\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.phone_ntp_server(ip).as_deref(), Some("10.9.9.9"));
    assert!(c.time.host_is_reference && c.syslog_enabled());
    assert_eq!(c.syslog.listen.port(), 5514);
    assert_eq!(c.phone_syslog_server(ip), None, "phones only know port 514");
    let err = Config::parse_str("[syslog]\nlisten = \"514\"\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("t.toml: syslog.listen: \"514\""), "{err}");
}

#[test]
fn http_section_flags_and_the_token_stay_hidden() {
    let c = Config::defaults();
    assert_eq!(c.http.listen.to_string(), DEFAULT_HTTP_LISTEN);
    assert_eq!(
        c.http.phone_listen.map(|a| a.to_string()).as_deref(),
        Some(DEFAULT_PHONE_HTTP_LISTEN)
    );
    let c = Config::parse_str(
        "[http]\nlisten = \"0.0.0.0:8080\"\nphone_listen = \"OFF\"\ntoken = \"s3cret-token\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.http.listen.port(), 8080);
    assert_eq!(c.http.phone_listen, None);
    assert_eq!(c.http.token.as_deref(), Some("s3cret-token"));
    assert!(!format!("{c:?}").contains("s3cret-token"));
    let err = Config::parse_str("[http]\nphone_listen = \"6970\"\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("http.phone_listen") && err.contains("\"off\""),
        "{err}"
    );
    let args = ServeArgs {
        phone_http_listen: Some("127.0.0.1:0".into()),
        http_token: Some(String::new()),
        ..Default::default()
    };
    let c = Config::for_serve(&args).unwrap();
    assert_eq!(c.http.phone_listen.map(|a| a.port()), Some(0));
    assert_eq!(c.http.token, None, "an empty token is no token");
}
