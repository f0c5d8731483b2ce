//! DHCP load generator for `scripts/bench-dhcp`: new clients at a fixed
//! rate, each broadcasting DISCOVER and then REQUEST (with the server id of
//! the first OFFER) from port 68 on one interface, as phones on a LAN do.
//! perfdhcp plays a relay and unicasts to one server address, so it cannot
//! load several servers that share the clients; this can.
//!
//! No retransmission: like perfdhcp, a leg not answered within `--drop-ms`
//! counts as a drop. Prints one JSON object: sent, answered, drops, average
//! latency per leg and the ACKs each server id gave.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

#[derive(Parser)]
#[command(about = "Broadcast DORA load at a fixed rate; prints JSON results")]
struct Args {
    /// Interface to broadcast on (SO_BINDTODEVICE; needs root).
    #[arg(long)]
    interface: String,
    /// New clients per second.
    #[arg(long)]
    rate: u32,
    /// Seconds of new clients.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Number of the first client: MACs are 00:1e:4a plus 24 bits of it.
    #[arg(long, default_value_t = 0)]
    first: u32,
    /// A leg unanswered this long is a drop.
    #[arg(long, default_value_t = 1000)]
    drop_ms: u64,
}

/// Where one client is in its exchange.
enum State {
    Discovering(Instant),
    Requesting(Instant),
    Done,
}

#[derive(Default)]
struct Leg {
    sent: u64,
    answered: u64,
    total_ms: f64,
}

impl Leg {
    fn json(&self) -> serde_json::Value {
        let avg = if self.answered > 0 {
            self.total_ms / self.answered as f64
        } else {
            f64::NAN
        };
        serde_json::json!({ "sent": self.sent, "answered": self.answered, "avg_ms": avg })
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    sock.set_reuse_address(true)?;
    sock.set_broadcast(true)?;
    sock.bind_device(Some(args.interface.as_bytes()))
        .with_context(|| format!("cannot bind to {} (needs root)", args.interface))?;
    sock.set_recv_buffer_size(8 << 20)?;
    sock.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)).into())
        .context("cannot bind UDP port 68")?;
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let to = SocketAddr::from((Ipv4Addr::BROADCAST, 67));

    let n = args.rate.saturating_mul(args.seconds);
    let drop_after = Duration::from_millis(args.drop_ms);
    let mut clients: Vec<State> = Vec::with_capacity(n as usize);
    let mut discover = Leg::default();
    let mut request = Leg::default();
    let mut acks_by_server: BTreeMap<Ipv4Addr, u64> = BTreeMap::new();
    let mut naks = 0u64;
    let mut buf = [0u8; 1500];
    let mut out = Vec::with_capacity(600);
    let began = Instant::now();
    let mut last_sent = began;
    loop {
        let now = Instant::now();
        let due = ((now - began).as_secs_f64() * f64::from(args.rate)) as u32;
        while (clients.len() as u32) < due.min(n) {
            let k = args.first.wrapping_add(clients.len() as u32);
            encode(&mut out, k, None)?;
            sock.send_to(&out, to)?;
            discover.sent += 1;
            clients.push(State::Discovering(Instant::now()));
            last_sent = Instant::now();
        }
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            let Ok(m) = Message::decode(&mut Decoder::new(&buf[..len])) else {
                continue;
            };
            let i = m.xid().wrapping_sub(0x5000_0000).wrapping_sub(args.first) as usize;
            if m.opcode() != Opcode::BootReply || i >= clients.len() {
                continue;
            }
            let server = match m.opts().get(OptionCode::ServerIdentifier) {
                Some(DhcpOption::ServerIdentifier(s)) => *s,
                _ => continue,
            };
            let at = Instant::now();
            match (m.opts().msg_type(), &clients[i]) {
                (Some(MessageType::Offer), State::Discovering(t)) if at - *t <= drop_after => {
                    discover.answered += 1;
                    discover.total_ms += (at - *t).as_secs_f64() * 1000.0;
                    let k = args.first.wrapping_add(i as u32);
                    encode(&mut out, k, Some((m.yiaddr(), server)))?;
                    sock.send_to(&out, to)?;
                    request.sent += 1;
                    clients[i] = State::Requesting(Instant::now());
                }
                (Some(MessageType::Ack), State::Requesting(t)) if at - *t <= drop_after => {
                    request.answered += 1;
                    request.total_ms += (at - *t).as_secs_f64() * 1000.0;
                    *acks_by_server.entry(server).or_default() += 1;
                    clients[i] = State::Done;
                }
                (Some(MessageType::Nak), State::Requesting(_)) => {
                    naks += 1;
                    clients[i] = State::Done;
                }
                _ => {}
            }
        }
        if clients.len() as u32 == n && now - last_sent > drop_after {
            break;
        }
    }
    let by_server: HashMap<String, u64> = acks_by_server
        .into_iter()
        .map(|(ip, c)| (ip.to_string(), c))
        .collect();
    let result = serde_json::json!({
        "rate": args.rate,
        "seconds": args.seconds,
        "discover": discover.json(),
        "request": request.json(),
        "naks": naks,
        "acks_by_server": by_server,
    });
    println!("{result}");
    Ok(())
}

/// Client `k`'s DISCOVER, or its REQUEST for `offered` (address, server).
fn encode(out: &mut Vec<u8>, k: u32, offered: Option<(Ipv4Addr, Ipv4Addr)>) -> anyhow::Result<()> {
    let b = k.to_be_bytes();
    let mut m = Message::default();
    m.set_opcode(Opcode::BootRequest)
        .set_xid(0x5000_0000u32.wrapping_add(k))
        .set_flags(Flags::default().set_broadcast())
        .set_chaddr(&[0x00, 0x1e, 0x4a, b[1], b[2], b[3]]);
    let opts = m.opts_mut();
    match offered {
        None => {
            opts.insert(DhcpOption::MessageType(MessageType::Discover));
        }
        Some((ip, server)) => {
            opts.insert(DhcpOption::MessageType(MessageType::Request));
            opts.insert(DhcpOption::RequestedIpAddress(ip));
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
    }
    opts.insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::TFTPServerAddress,
    ]));
    out.clear();
    m.encode(&mut Encoder::new(out))?;
    Ok(())
}
