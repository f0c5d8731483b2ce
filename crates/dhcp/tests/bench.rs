//! The core's cost per DISCOVER/REQUEST exchange, with no I/O: each message
//! is decoded, decided and its reply encoded, as the driver does. Run it in
//! release: `cargo test -p dhcp --release -- --ignored --nocapture`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhcp::dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcp::dhcproto::Encodable;
use dhcp::{
    decode, Classifier, Ingress, Limits, OptionSpec, OptionValue, Server, ServerConfig, Subnet,
    SubnetConfig,
};

const CLIENTS: u32 = 200_000;
const ROUNDS: usize = 3;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 64, 0, 1);
const VENDOR_CLASS: &[u8] = b"Cisco Systems, Inc. IP Phone CP-7960G\0";

fn server() -> Server {
    let mut sc = SubnetConfig::new(Ipv4Addr::new(10, 64, 0, 0), 14);
    sc.server_addr = Some(SERVER);
    sc.routers = vec![SERVER];
    sc.dns = vec![Ipv4Addr::new(10, 64, 0, 53), Ipv4Addr::new(10, 64, 0, 54)];
    sc.domain = Some("phones.example".into());
    sc.ntp = vec![SERVER];
    sc.tftp_servers = vec![SERVER, Ipv4Addr::new(10, 64, 0, 2)];
    let limits = Limits {
        max_tracked_clients: 1 << 20,
        ..Limits::default()
    };
    // Enough of a classifier to send the 7960s their own option 150.
    let classifier: Classifier = Arc::new(|vci: &[u8]| {
        let text = std::str::from_utf8(vci).ok()?;
        let (_, rest) = text.split_once("CP-")?;
        Some(rest.chars().take_while(char::is_ascii_digit).collect())
    });
    let config = ServerConfig::new(vec![Subnet::try_from(sc).unwrap()])
        .unwrap()
        .with_limits(limits)
        .unwrap()
        .with_classifier(classifier)
        .with_model_options(
            "7960",
            vec![OptionSpec::new(
                150,
                OptionValue::Ips(vec![Ipv4Addr::new(10, 64, 0, 3)]),
            )],
        )
        .unwrap();
    Server::new(config)
}

/// What a 7960 sends; chaddr, xid and option 50 are patched per client.
fn template(t: MessageType) -> Vec<u8> {
    let mut m = Message::new_with_id(
        0,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &[0; 6],
    );
    m.set_flags(Flags::default().set_broadcast());
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(t));
    opts.insert(DhcpOption::ClassIdentifier(VENDOR_CLASS.to_vec()));
    opts.insert(DhcpOption::ParameterRequestList(
        [1u8, 66, 6, 3, 15, 150, 35]
            .into_iter()
            .map(OptionCode::from)
            .collect(),
    ));
    if t == MessageType::Request {
        opts.insert(DhcpOption::RequestedIpAddress(Ipv4Addr::UNSPECIFIED));
        opts.insert(DhcpOption::ServerIdentifier(SERVER));
    }
    m.to_vec().unwrap()
}

/// Offset of option `code`'s value in an encoded message.
fn option_at(bytes: &[u8], code: u8) -> usize {
    let mut i = 240;
    while bytes[i] != code {
        i += 2 + usize::from(bytes[i + 1]);
    }
    i + 2
}

fn patch(bytes: &mut [u8], n: u32) {
    bytes[4..8].copy_from_slice(&n.to_be_bytes());
    let [_, a, b, c] = n.to_be_bytes();
    bytes[28..34].copy_from_slice(&[0x00, 0x1b, 0x54, a, b, c]);
}

/// One round over a fresh server; returns ns per exchange.
fn round() -> f64 {
    let mut s = server();
    let ingress = Ingress {
        local_addr: SERVER,
        ifindex: 2,
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        broadcast: true,
    };
    let mut discover = template(MessageType::Discover);
    let mut request = template(MessageType::Request);
    let requested = option_at(&request, 50);
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    let (mut bytes, mut acks) = (0usize, 0u32);
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    for n in 0..CLIENTS {
        let now = base + Duration::from_micros(u64::from(n) * 10);
        patch(&mut discover, n);
        let msg = decode(&discover).unwrap();
        let offer = s.decide(now, &ingress, &msg).reply.unwrap();
        bytes += offer.encode().unwrap().len();
        let yiaddr = offer.message.yiaddr();

        patch(&mut request, n);
        request[requested..requested + 4].copy_from_slice(&yiaddr.octets());
        let msg = decode(&request).unwrap();
        let d = s.decide(now, &ingress, &msg);
        let ack = d.reply.unwrap();
        bytes += ack.encode().unwrap().len();
        acks += u32::from(ack.message.opts().msg_type() == Some(MessageType::Ack));
        assert_eq!(d.lease_ops.len(), 1);
    }
    let elapsed = started.elapsed();
    assert_eq!(acks, CLIENTS);
    assert!(bytes > 0);
    elapsed.as_nanos() as f64 / f64::from(CLIENTS)
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn dora_exchange_cost() {
    let runs: Vec<f64> = (0..ROUNDS).map(|_| round()).collect();
    let best = runs.iter().copied().fold(f64::INFINITY, f64::min);
    for (i, ns) in runs.iter().enumerate() {
        println!("round {i}: {ns:.0} ns per DISCOVER/REQUEST exchange");
    }
    println!(
        "best of {ROUNDS}: {best:.0} ns per exchange ({CLIENTS} clients, decode+decide+encode)"
    );
}
