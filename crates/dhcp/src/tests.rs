//! Unit tests: every message type and client state, with injected time.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use dhcproto::v4::relay::{RelayAgentInformation, RelayInfo};
use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use crate::*;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);

/// The one clock read in the tests; everything after is `t0 + offset`.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn mac(n: u8) -> [u8; 6] {
    [0x00, 0x1b, 0x54, 0xaa, 0xbb, n]
}

fn lan() -> SubnetConfig {
    let mut c = SubnetConfig::new(ip("192.168.1.0"), 24);
    c.server_addr = Some(SERVER);
    c.pool = vec![(ip("192.168.1.100"), ip("192.168.1.109"))];
    c.routers = vec![SERVER];
    c.dns = vec![ip("192.168.1.53"), ip("192.168.1.54")];
    c.domain = Some("phones.example".into());
    c.ntp = vec![ip("192.168.1.123")];
    c.lease_time = Duration::from_secs(3600);
    c
}

fn relayed() -> SubnetConfig {
    let mut c = SubnetConfig::new(ip("10.1.0.0"), 24);
    c.pool = vec![(ip("10.1.0.10"), ip("10.1.0.19"))];
    c.routers = vec![RELAY];
    c
}

fn server_with(lan: SubnetConfig, limits: Limits) -> Server {
    let subnets = vec![
        Subnet::try_from(lan).unwrap(),
        Subnet::try_from(relayed()).unwrap(),
    ];
    Server::new(
        ServerConfig::new(subnets)
            .unwrap()
            .with_limits(limits)
            .unwrap()
            .with_classifier(fuzzing::classifier()),
    )
}

fn server() -> Server {
    server_with(lan(), Limits::default())
}

fn ingress() -> Ingress {
    Ingress {
        local_addr: SERVER,
        ifindex: 2,
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        broadcast: true,
    }
}

fn unicast_ingress(from: Ipv4Addr) -> Ingress {
    Ingress {
        source: SocketAddrV4::new(from, 68),
        broadcast: false,
        ..ingress()
    }
}

fn msg(m: [u8; 6], t: MessageType) -> Message {
    let mut msg = Message::new_with_id(
        0x1234_5678,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &m,
    );
    msg.opts_mut().insert(DhcpOption::MessageType(t));
    msg
}

/// What a 7960 asks for (PHONES.md): 1,66,6,3,15,150,35.
fn phone_prl() -> DhcpOption {
    DhcpOption::ParameterRequestList(
        [1u8, 66, 6, 3, 15, 150, 35]
            .into_iter()
            .map(OptionCode::from)
            .collect(),
    )
}

fn discover(m: [u8; 6]) -> Message {
    let mut d = msg(m, MessageType::Discover);
    d.set_flags(Flags::default().set_broadcast());
    d.opts_mut().insert(phone_prl());
    d
}

fn select(m: [u8; 6], addr: Ipv4Addr, sid: Ipv4Addr) -> Message {
    let mut r = msg(m, MessageType::Request);
    r.set_flags(Flags::default().set_broadcast());
    r.opts_mut().insert(DhcpOption::RequestedIpAddress(addr));
    r.opts_mut().insert(DhcpOption::ServerIdentifier(sid));
    r.opts_mut().insert(phone_prl());
    r
}

fn init_reboot(m: [u8; 6], addr: Ipv4Addr) -> Message {
    let mut r = msg(m, MessageType::Request);
    r.opts_mut().insert(DhcpOption::RequestedIpAddress(addr));
    r
}

fn renew(m: [u8; 6], ciaddr: Ipv4Addr) -> Message {
    let mut r = msg(m, MessageType::Request);
    r.set_ciaddr(ciaddr);
    r
}

/// The encoded reply's options as code → bytes (long options joined),
/// parsed by hand: dhcproto 0.12 cannot decode a two-address option 150.
fn wire_opts(bytes: &[u8]) -> (Vec<u8>, BTreeMap<u8, Vec<u8>>) {
    assert_eq!(&bytes[236..240], &[99, 130, 83, 99], "magic cookie");
    let mut order = Vec::new();
    let mut map: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    let mut i = 240;
    while i < bytes.len() {
        let code = bytes[i];
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let len = bytes[i + 1] as usize;
        order.push(code);
        map.entry(code)
            .or_default()
            .extend_from_slice(&bytes[i + 2..i + 2 + len]);
        i += 2 + len;
    }
    (order, map)
}

fn reply_of(d: &Decision) -> &Reply {
    d.reply.as_ref().expect("a reply")
}

fn mtype(d: &Decision) -> Option<MessageType> {
    d.reply.as_ref().and_then(|r| r.message.opts().msg_type())
}

fn last_reason(d: &Decision) -> Option<Reason> {
    d.events.last().and_then(|e| e.reason.clone())
}

/// DISCOVER, then REQUEST the offered address: returns it.
fn dora(s: &mut Server, m: [u8; 6], now: Instant) -> Ipv4Addr {
    let offer = s.decide(now, &ingress(), &discover(m));
    assert_eq!(
        mtype(&offer),
        Some(MessageType::Offer),
        "{:?}",
        offer.events
    );
    let yiaddr = reply_of(&offer).message.yiaddr();
    let ack = s.decide(now, &ingress(), &select(m, yiaddr, SERVER));
    assert_eq!(mtype(&ack), Some(MessageType::Ack), "{:?}", ack.events);
    yiaddr
}

// ---------------------------------------------------------------- DORA

#[test]
fn discover_offers_a_pool_address_with_phone_options() {
    let mut s = server();
    let now = t0();
    let d = s.decide(now, &ingress(), &discover(mac(1)));
    let r = reply_of(&d);
    let m = &r.message;
    assert_eq!(m.opcode(), Opcode::BootReply);
    assert_eq!(m.xid(), 0x1234_5678);
    let yiaddr = m.yiaddr();
    assert!((100..=109).contains(&yiaddr.octets()[3]), "{yiaddr}");
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(d.lease_ops.is_empty(), "an offer is not durable");
    assert_eq!(d.probe, Some(yiaddr), "a new address is probed first");
    assert_eq!(r.destination, Destination::Broadcast);

    let (order, o) = wire_opts(&r.encode().unwrap());
    assert_eq!(o[&53], vec![2]);
    assert_eq!(o[&54], SERVER.octets());
    assert_eq!(o[&51], 3600u32.to_be_bytes());
    assert_eq!(o[&58], 1800u32.to_be_bytes());
    assert_eq!(o[&59], 3150u32.to_be_bytes());
    assert_eq!(o[&1], [255, 255, 255, 0]);
    assert_eq!(o[&3], SERVER.octets());
    assert_eq!(o[&6], [192, 168, 1, 53, 192, 168, 1, 54]);
    assert_eq!(o[&15], b"phones.example");
    // Default TFTP server: our own address on the interface.
    assert_eq!(o[&150], SERVER.octets());
    assert_eq!(o[&66], b"192.168.1.1");
    // 42 was configured but not in the phone's request list.
    assert!(!o.contains_key(&42));
    // RFC 2132 §3.3: mask before router; 53 leads.
    assert_eq!(order[0], 53);
    let pos = |c| order.iter().position(|x| *x == c).unwrap();
    assert!(pos(1) < pos(3));

    let e = d.events.last().unwrap();
    assert_eq!(e.kind, EventKind::Offer);
    assert_eq!(e.mac, Some(Mac(mac(1))));
    assert_eq!(e.ip, Some(yiaddr));
    assert_eq!(e.options, order);
}

#[test]
fn request_in_selecting_is_acked_and_lease_is_persisted_first() {
    let mut s = server();
    let now = t0();
    let offered = reply_of(&s.decide(now, &ingress(), &discover(mac(1))))
        .message
        .yiaddr();
    let later = now + Duration::from_secs(2);
    let d = s.decide(later, &ingress(), &select(mac(1), offered, SERVER));
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    assert_eq!(reply_of(&d).message.yiaddr(), offered);
    assert_eq!(reply_of(&d).destination, Destination::Broadcast);
    assert_eq!(
        d.lease_ops,
        vec![LeaseOp::Upsert(Lease {
            mac: Mac(mac(1)),
            client_id: None,
            ip: offered,
            expires: later + Duration::from_secs(3600),
            model: None,
            hostname: None,
        })]
    );
    assert_eq!(d.events.last().unwrap().state, Some(ClientState::Selecting));
    assert_eq!(s.outstanding_offers(), 0);
    assert!(s.lease(offered, later).is_some());
}

#[test]
fn unicast_offer_goes_to_chaddr_when_broadcast_flag_clear() {
    let mut s = server();
    let mut d = discover(mac(1));
    d.set_flags(Flags::default());
    let r = s.decide(t0(), &ingress(), &d);
    let yiaddr = reply_of(&r).message.yiaddr();
    assert_eq!(
        reply_of(&r).destination,
        Destination::Chaddr {
            yiaddr,
            chaddr: Mac(mac(1))
        }
    );
    assert_eq!(
        reply_of(&r).destination.socket_addr(),
        SocketAddrV4::new(yiaddr, 68)
    );
}

#[test]
fn same_mac_gets_the_same_address_across_restarts_and_other_macs_differ() {
    let now = t0();
    let a = dora(&mut server(), mac(1), now);
    let again = dora(&mut server(), mac(1), now);
    assert_eq!(a, again, "hash allocation is stable across restarts");
    let mut s = server();
    let first = dora(&mut s, mac(1), now);
    let second = dora(&mut s, mac(2), now);
    assert_ne!(first, second);
    // Rediscovering while bound offers the same address, without a probe.
    let d = s.decide(now, &ingress(), &discover(mac(1)));
    assert_eq!(reply_of(&d).message.yiaddr(), first);
    assert_eq!(d.probe, None);
}

#[test]
fn requested_address_is_honoured_when_free() {
    let mut s = server();
    let mut d = discover(mac(1));
    d.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(ip("192.168.1.107")));
    let r = s.decide(t0(), &ingress(), &d);
    assert_eq!(reply_of(&r).message.yiaddr(), ip("192.168.1.107"));
}

// ------------------------------------------------------ options 150 / 66

#[test]
fn option_150_is_a_list_in_order_and_66_is_the_first_as_text() {
    let mut c = lan();
    c.tftp_servers = vec![ip("192.168.1.20"), ip("192.168.1.10")];
    let mut s = server_with(c, Limits::default());
    let d = s.decide(t0(), &ingress(), &discover(mac(1)));
    let (_, o) = wire_opts(&reply_of(&d).encode().unwrap());
    assert_eq!(o[&150], [192, 168, 1, 20, 192, 168, 1, 10]);
    assert_eq!(o[&66], b"192.168.1.20");
    assert_eq!(reply_of(&d).message.siaddr(), ip("192.168.1.20"));
}

#[test]
fn options_150_and_66_are_sent_even_when_not_requested() {
    let mut s = server();
    let mut d = discover(mac(1));
    d.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::DomainName,
    ]));
    let r = s.decide(t0(), &ingress(), &d);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    assert!(o.contains_key(&150) && o.contains_key(&66));
    assert!(o.contains_key(&15));
    assert!(!o.contains_key(&6), "DNS was not requested");
    // Without a request list, every configured option goes out.
    let mut bare = discover(mac(2));
    bare.opts_mut().remove(OptionCode::ParameterRequestList);
    let r = s.decide(t0(), &ingress(), &bare);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    for code in [1, 3, 6, 15, 42, 66, 150] {
        assert!(o.contains_key(&code), "option {code} missing");
    }
}

#[test]
fn per_model_override_from_a_real_7960_vendor_class() {
    let cfg = ServerConfig::new(vec![
        Subnet::try_from(lan()).unwrap(),
        Subnet::try_from(relayed()).unwrap(),
    ])
    .unwrap()
    .with_classifier(fuzzing::classifier())
    .with_model_options(
        "7960",
        vec![
            OptionSpec::new(150, OptionValue::Ips(vec![ip("10.9.9.9"), ip("10.9.9.8")])),
            OptionSpec::new(42, OptionValue::Ips(vec![ip("10.9.9.7")])),
        ],
    )
    .unwrap();
    let mut s = Server::new(cfg);
    let now = t0();
    let mut d = discover(mac(1));
    d.opts_mut().insert(DhcpOption::ClassIdentifier(
        b"Cisco Systems, Inc. IP Phone CP-7960G\0".to_vec(),
    ));
    d.opts_mut().insert(DhcpOption::ParameterRequestList(
        [1u8, 66, 6, 3, 15, 150, 35, 42]
            .into_iter()
            .map(OptionCode::from)
            .collect(),
    ));
    let r = s.decide(now, &ingress(), &d);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    assert_eq!(o[&150], [10, 9, 9, 9, 10, 9, 9, 8]);
    assert_eq!(o[&66], b"10.9.9.9");
    assert_eq!(o[&42], [10, 9, 9, 7]);
    assert_eq!(r.events.last().unwrap().model.as_deref(), Some("7960"));

    // The lease records the model.
    let yiaddr = reply_of(&r).message.yiaddr();
    let mut req = select(mac(1), yiaddr, SERVER);
    req.opts_mut().insert(DhcpOption::ClassIdentifier(
        b"Cisco Systems, Inc. IP Phone CP-7960G\0".to_vec(),
    ));
    let ack = s.decide(now, &ingress(), &req);
    match &ack.lease_ops[..] {
        [LeaseOp::Upsert(l)] => assert_eq!(l.model.as_deref(), Some("7960")),
        other => panic!("{other:?}"),
    }

    // A 7961 gets the subnet's defaults.
    let mut other = discover(mac(2));
    other.opts_mut().insert(DhcpOption::ClassIdentifier(
        b"Cisco Systems, Inc. IP Phone CP-7961G\0".to_vec(),
    ));
    let r = s.decide(now, &ingress(), &other);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    assert_eq!(o[&150], SERVER.octets());
    assert_eq!(r.events.last().unwrap().model.as_deref(), Some("7961"));
}

#[test]
fn without_a_classifier_no_model_is_named_and_subnet_options_apply() {
    let cfg = ServerConfig::new(vec![Subnet::try_from(lan()).unwrap()])
        .unwrap()
        .with_model_options(
            "7960",
            vec![OptionSpec::new(150, OptionValue::Ips(vec![ip("10.9.9.9")]))],
        )
        .unwrap();
    let mut s = Server::new(cfg);
    let mut d = discover(mac(1));
    d.opts_mut().insert(DhcpOption::ClassIdentifier(
        b"Cisco Systems, Inc. IP Phone CP-7960G\0".to_vec(),
    ));
    let r = s.decide(t0(), &ingress(), &d);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    assert_eq!(o[&150], SERVER.octets());
    assert_eq!(r.events.last().unwrap().model, None);
}

#[test]
fn options_on_the_wire_keep_the_chosen_order_with_82_last() {
    let mut s = server();
    let mut d = discover(mac(1));
    d.set_giaddr(RELAY);
    let mut info = RelayAgentInformation::default();
    info.insert(RelayInfo::AgentCircuitId(b"port7".to_vec()));
    d.opts_mut()
        .insert(DhcpOption::RelayAgentInformation(info.clone()));
    d.opts_mut().insert(DhcpOption::ClientIdentifier(vec![
        1, 0, 0x1b, 0x54, 0xaa, 0xbb, 1,
    ]));
    let r = s.decide(t0(), &ingress(), &d);
    let bytes = reply_of(&r).encode().unwrap();
    assert!(bytes.len() >= 300, "padded to the BOOTP minimum");
    let (order, _) = wire_opts(&bytes);
    assert_eq!(&order[..2], &[53, 54]);
    assert_eq!(order[order.len() - 2..], [61, 82]);
    assert_eq!(order, reply_of(&r).option_codes());
}

#[test]
fn single_tftp_reply_decodes_with_dhcproto() {
    let mut s = server();
    let r = s.decide(t0(), &ingress(), &discover(mac(1)));
    let bytes = reply_of(&r).encode().unwrap();
    let back = Message::decode(&mut Decoder::new(&bytes)).unwrap();
    assert_eq!(back.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(
        back.opts().get(OptionCode::TFTPServerAddress),
        Some(&DhcpOption::TFTPServerAddress(SERVER))
    );
    assert_eq!(
        back.opts().get(OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(ip("255.255.255.0")))
    );
    assert_eq!(back.yiaddr(), reply_of(&r).message.yiaddr());
}

// ------------------------------------------------- other REQUEST states

#[test]
fn request_for_another_server_withdraws_our_offer_silently() {
    let mut s = server();
    let now = t0();
    let offered = reply_of(&s.decide(now, &ingress(), &discover(mac(1))))
        .message
        .yiaddr();
    assert_eq!(s.outstanding_offers(), 1);
    let d = s.decide(
        now,
        &ingress(),
        &select(mac(1), offered, ip("192.168.1.254")),
    );
    assert!(d.reply.is_none());
    assert!(d.lease_ops.is_empty());
    let e = d.events.last().unwrap();
    assert_eq!(e.kind, EventKind::OfferWithdrawn);
    assert_eq!(e.reason, Some(Reason::OtherServer(ip("192.168.1.254"))));
    assert_eq!(e.ip, Some(offered));
    assert_eq!(s.outstanding_offers(), 0);
}

#[test]
fn selecting_an_address_held_by_another_client_is_naked() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(now, &ingress(), &select(mac(2), a, SERVER));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    assert_eq!(last_reason(&d), Some(Reason::HeldByOther(a)));
    let m = &reply_of(&d).message;
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(reply_of(&d).destination, Destination::Broadcast);
    let (_, o) = wire_opts(&reply_of(&d).encode().unwrap());
    assert_eq!(o[&54], SERVER.octets());
    assert!(!o.contains_key(&51) && !o.contains_key(&150));
    assert!(o.contains_key(&56), "NAK explains itself");
    assert!(d.lease_ops.is_empty());
}

#[test]
fn init_reboot_known_client_is_acked() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(
        now + Duration::from_secs(60),
        &ingress(),
        &init_reboot(mac(1), a),
    );
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    assert_eq!(
        d.events.last().unwrap().state,
        Some(ClientState::InitReboot)
    );
    assert!(matches!(&d.lease_ops[..], [LeaseOp::Upsert(l)] if l.ip == a));
}

#[test]
fn init_reboot_on_the_wrong_subnet_is_naked() {
    let mut s = server();
    let d = s.decide(t0(), &ingress(), &init_reboot(mac(1), ip("10.7.7.7")));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    assert_eq!(last_reason(&d), Some(Reason::WrongSubnet(ip("10.7.7.7"))));
    assert_eq!(reply_of(&d).destination, Destination::Broadcast);
}

#[test]
fn init_reboot_for_an_address_held_by_another_is_naked() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(now, &ingress(), &init_reboot(mac(2), a));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    assert_eq!(last_reason(&d), Some(Reason::HeldByOther(a)));
}

#[test]
fn init_reboot_with_no_record_stays_silent() {
    let mut s = server();
    let d = s.decide(t0(), &ingress(), &init_reboot(mac(1), ip("192.168.1.105")));
    assert!(d.reply.is_none());
    assert_eq!(last_reason(&d), Some(Reason::NoRecord(ip("192.168.1.105"))));
}

#[test]
fn init_reboot_asking_for_a_different_address_than_we_gave_is_naked() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let other = if a == ip("192.168.1.105") {
        ip("192.168.1.106")
    } else {
        ip("192.168.1.105")
    };
    let d = s.decide(now, &ingress(), &init_reboot(mac(1), other));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    assert_eq!(
        last_reason(&d),
        Some(Reason::OtherAddress {
            asked: other,
            held: a
        })
    );
}

#[test]
fn init_reboot_through_relay_nak_sets_broadcast_bit_and_goes_to_relay() {
    let mut s = server();
    let mut r = init_reboot(mac(1), ip("192.168.1.105"));
    r.set_giaddr(RELAY);
    let d = s.decide(t0(), &ingress(), &r);
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    assert_eq!(reply_of(&d).destination, Destination::Relay(RELAY));
    assert!(reply_of(&d).message.flags().broadcast());
}

#[test]
fn renewing_is_unicast_to_ciaddr_and_extends_the_lease() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let later = now + Duration::from_secs(1800);
    let d = s.decide(later, &unicast_ingress(a), &renew(mac(1), a));
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    let r = reply_of(&d);
    assert_eq!(r.destination, Destination::Ciaddr(a));
    assert_eq!(r.destination.socket_addr(), SocketAddrV4::new(a, 68));
    assert_eq!(r.message.ciaddr(), a);
    assert_eq!(d.events.last().unwrap().state, Some(ClientState::Renewing));
    assert_eq!(d.events.last().unwrap().reason, None);
    match &d.lease_ops[..] {
        [LeaseOp::Upsert(l)] => assert_eq!(l.expires, later + Duration::from_secs(3600)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rebinding_is_recognised_and_acked() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(
        now + Duration::from_secs(3200),
        &ingress(),
        &renew(mac(1), a),
    );
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    assert_eq!(d.events.last().unwrap().state, Some(ClientState::Rebinding));
}

#[test]
fn renewing_an_address_held_by_another_is_naked() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(now, &unicast_ingress(a), &renew(mac(2), a));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    assert_eq!(reply_of(&d).destination, Destination::Broadcast);
}

#[test]
fn renewing_an_unknown_lease_on_a_free_address_adopts_it() {
    let mut s = server();
    let a = ip("192.168.1.104");
    let d = s.decide(t0(), &unicast_ingress(a), &renew(mac(1), a));
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    assert_eq!(last_reason(&d), Some(Reason::Adopted(a)));
    assert!(matches!(&d.lease_ops[..], [LeaseOp::Upsert(l)] if l.ip == a));
}

#[test]
fn request_with_no_address_at_all_is_dropped() {
    let mut s = server();
    let d = s.decide(t0(), &ingress(), &msg(mac(1), MessageType::Request));
    assert!(d.reply.is_none());
    assert_eq!(last_reason(&d), Some(Reason::NoAddress));
}

// ------------------------------------------------------ expiry, release

fn one_address_lan() -> SubnetConfig {
    let mut c = lan();
    c.pool = vec![(ip("192.168.1.100"), ip("192.168.1.100"))];
    c
}

#[test]
fn expired_lease_frees_the_address_for_another_client() {
    let mut s = server_with(one_address_lan(), Limits::default());
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let during = s.decide(
        now + Duration::from_secs(3599),
        &ingress(),
        &discover(mac(2)),
    );
    assert!(during.reply.is_none());
    assert!(matches!(
        last_reason(&during),
        Some(Reason::PoolExhausted(_))
    ));
    let after = now + Duration::from_secs(3601);
    assert!(s.lease(a, after).is_none());
    assert_eq!(dora(&mut s, mac(2), after), a);
    // The first client's renewal now meets another holder.
    let d = s.decide(after, &unicast_ingress(a), &renew(mac(1), a));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
}

#[test]
fn pool_exhaustion_sends_no_offer_and_says_why() {
    let mut s = server_with(one_address_lan(), Limits::default());
    let now = t0();
    dora(&mut s, mac(1), now);
    let d = s.decide(now, &ingress(), &discover(mac(2)));
    assert!(d.reply.is_none());
    assert_eq!(
        last_reason(&d),
        Some(Reason::PoolExhausted("192.168.1.0/24".into()))
    );
    assert_eq!(d.events.last().unwrap().kind, EventKind::Dropped);
}

#[test]
fn unanswered_offers_expire() {
    let mut s = server_with(one_address_lan(), Limits::default());
    let now = t0();
    assert!(s.decide(now, &ingress(), &discover(mac(1))).reply.is_some());
    assert!(s.decide(now, &ingress(), &discover(mac(2))).reply.is_none());
    let later = now + Duration::from_secs(31);
    let d = s.decide(later, &ingress(), &discover(mac(2)));
    assert_eq!(reply_of(&d).message.yiaddr(), ip("192.168.1.100"));
}

#[test]
fn release_frees_the_address_and_is_persisted() {
    let mut s = server_with(one_address_lan(), Limits::default());
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let mut rel = msg(mac(1), MessageType::Release);
    rel.set_ciaddr(a);
    rel.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    let d = s.decide(now, &unicast_ingress(a), &rel);
    assert!(d.reply.is_none());
    assert_eq!(
        d.lease_ops,
        vec![LeaseOp::Release {
            mac: Mac(mac(1)),
            client_id: None,
            ip: a
        }]
    );
    assert_eq!(d.events.last().unwrap().kind, EventKind::Released);
    assert_eq!(dora(&mut s, mac(2), now), a);
}

#[test]
fn release_by_a_client_that_does_not_hold_the_address_is_ignored() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let mut rel = msg(mac(2), MessageType::Release);
    rel.set_ciaddr(a);
    let d = s.decide(now, &unicast_ingress(a), &rel);
    assert!(d.lease_ops.is_empty());
    assert_eq!(last_reason(&d), Some(Reason::NotHeld(a)));
    assert!(s.lease(a, now).is_some());
}

// ---------------------------------------------------- decline, conflict

fn decline(m: [u8; 6], addr: Ipv4Addr) -> Message {
    let mut d = msg(m, MessageType::Decline);
    d.opts_mut().insert(DhcpOption::RequestedIpAddress(addr));
    d.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    d
}

#[test]
fn declined_address_is_quarantined_then_returns() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(now, &ingress(), &decline(mac(1), a));
    assert!(d.reply.is_none());
    let until = now + Duration::from_secs(600);
    assert_eq!(
        d.lease_ops,
        vec![LeaseOp::Quarantine {
            ip: a,
            until,
            mac: Some(Mac(mac(1)))
        }]
    );
    assert_eq!(d.events.last().unwrap().kind, EventKind::Declined);
    let again = s.decide(now, &ingress(), &discover(mac(1)));
    assert_ne!(reply_of(&again).message.yiaddr(), a);
    // Nobody gets it during quarantine, even by asking.
    let mut ask = discover(mac(3));
    ask.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    let d = s.decide(now, &ingress(), &ask);
    assert_ne!(reply_of(&d).message.yiaddr(), a);
    // After the quarantine it can be asked for again.
    let mut ask = discover(mac(4));
    ask.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    let d = s.decide(until + Duration::from_secs(1), &ingress(), &ask);
    assert_eq!(reply_of(&d).message.yiaddr(), a);
}

#[test]
fn decline_from_a_client_not_holding_the_address_changes_nothing() {
    let mut s = server();
    let now = t0();
    let a = dora(&mut s, mac(1), now);
    let d = s.decide(now, &ingress(), &decline(mac(2), a));
    assert!(d.lease_ops.is_empty());
    assert_eq!(last_reason(&d), Some(Reason::NotHeld(a)));
    assert!(s.lease(a, now).is_some());
}

#[test]
fn conflict_report_quarantines_and_next_discover_gets_another_address() {
    let mut s = server();
    let now = t0();
    let d = s.decide(now, &ingress(), &discover(mac(1)));
    let probed = d.probe.expect("probe requested");
    let c = s.report_conflict(probed, now);
    assert!(matches!(&c.lease_ops[..], [LeaseOp::Quarantine { ip, .. }] if *ip == probed));
    assert_eq!(c.events.last().unwrap().kind, EventKind::Conflict);
    assert_eq!(s.outstanding_offers(), 0);
    let d = s.decide(now, &ingress(), &discover(mac(1)));
    assert_ne!(reply_of(&d).message.yiaddr(), probed);
}

// ----------------------------------------------------------------- INFORM

#[test]
fn inform_gets_options_without_a_lease() {
    let mut s = server();
    let mut inf = msg(mac(1), MessageType::Inform);
    let client = ip("192.168.1.33");
    inf.set_ciaddr(client);
    let d = s.decide(t0(), &unicast_ingress(client), &inf);
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    let r = reply_of(&d);
    assert_eq!(r.message.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.destination, Destination::Ciaddr(client));
    assert!(d.lease_ops.is_empty());
    let (_, o) = wire_opts(&r.encode().unwrap());
    assert!(!o.contains_key(&51) && !o.contains_key(&58));
    assert_eq!(o[&150], SERVER.octets());
    assert_eq!(d.events.last().unwrap().kind, EventKind::InformAck);
}

// ----------------------------------------------------------- reservations

#[test]
fn reserved_address_goes_to_its_mac_only_even_outside_the_pool() {
    let mut c = lan();
    let reserved = ip("192.168.1.50");
    c.reservations = vec![Reservation {
        mac: Mac(mac(9)),
        ip: reserved,
    }];
    let mut s = server_with(c, Limits::default());
    let now = t0();
    assert_eq!(dora(&mut s, mac(9), now), reserved);
    // Another MAC asking for it by option 50 gets something else.
    let mut ask = discover(mac(1));
    ask.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(reserved));
    let d = s.decide(now, &ingress(), &ask);
    assert_ne!(reply_of(&d).message.yiaddr(), reserved);
    // ...and is NAKed if it insists.
    let d = s.decide(now, &ingress(), &select(mac(1), reserved, SERVER));
    assert_eq!(mtype(&d), Some(MessageType::Nak));
    // The owner rebooting with no record is recognised by its reservation.
    let mut fresh = server_with(
        {
            let mut c = lan();
            c.reservations = vec![Reservation {
                mac: Mac(mac(9)),
                ip: reserved,
            }];
            c
        },
        Limits::default(),
    );
    let d = fresh.decide(now, &ingress(), &init_reboot(mac(9), reserved));
    assert_eq!(mtype(&d), Some(MessageType::Ack));
}

#[test]
fn reserved_pool_address_is_never_given_to_another_mac() {
    let mut c = one_address_lan();
    c.reservations = vec![Reservation {
        mac: Mac(mac(9)),
        ip: ip("192.168.1.100"),
    }];
    let mut s = server_with(c, Limits::default());
    let d = s.decide(t0(), &ingress(), &discover(mac(1)));
    assert!(d.reply.is_none());
    assert!(matches!(last_reason(&d), Some(Reason::PoolExhausted(_))));
}

// ----------------------------------------------------------------- relay

#[test]
fn relayed_discover_uses_the_giaddr_subnet_and_echoes_option_82() {
    let mut s = server();
    let mut d = discover(mac(1));
    d.set_giaddr(RELAY);
    d.set_hops(1);
    let mut info = RelayAgentInformation::default();
    info.insert(RelayInfo::AgentCircuitId(b"Gi1/0/7".to_vec()));
    info.insert(RelayInfo::AgentRemoteId(vec![1, 2, 3]));
    d.opts_mut()
        .insert(DhcpOption::RelayAgentInformation(info.clone()));
    let r = s.decide(t0(), &ingress(), &d);
    let reply = reply_of(&r);
    let y = reply.message.yiaddr();
    assert!(
        (10..=19).contains(&y.octets()[3]) && y.octets()[..3] == [10, 1, 0],
        "{y}"
    );
    assert_eq!(reply.destination, Destination::Relay(RELAY));
    assert_eq!(
        reply.destination.socket_addr(),
        SocketAddrV4::new(RELAY, 67)
    );
    assert_eq!(reply.message.giaddr(), RELAY);
    assert_eq!(reply.message.hops(), 0);
    assert_eq!(
        reply.message.opts().get(OptionCode::RelayAgentInformation),
        Some(&DhcpOption::RelayAgentInformation(info))
    );
    let (_, o) = wire_opts(&reply.encode().unwrap());
    assert_eq!(o[&3], RELAY.octets());
    assert_eq!(o[&1], [255, 255, 255, 0]);
    assert_eq!(r.events.last().unwrap().relay, Some(RELAY));
}

#[test]
fn relay_from_an_unknown_subnet_is_dropped() {
    let mut s = server();
    let mut d = discover(mac(1));
    d.set_giaddr(ip("172.16.0.1"));
    let r = s.decide(t0(), &ingress(), &d);
    assert!(r.reply.is_none());
    assert_eq!(
        last_reason(&r),
        Some(Reason::NoSubnetForRelay(ip("172.16.0.1")))
    );
}

// ------------------------------------------------------------- client id

#[test]
fn client_id_is_echoed_and_identifies_the_client() {
    let mut s = server();
    let now = t0();
    let id = vec![0xff, 1, 2, 3, 4, 5, 6, 7];
    let mut d = discover(mac(1));
    d.opts_mut()
        .insert(DhcpOption::ClientIdentifier(id.clone()));
    let r = s.decide(now, &ingress(), &d);
    assert_eq!(
        reply_of(&r)
            .message
            .opts()
            .get(OptionCode::ClientIdentifier),
        Some(&DhcpOption::ClientIdentifier(id.clone()))
    );
    let a = reply_of(&r).message.yiaddr();
    // RFC 2131 §4.2: the same client id on another NIC is the same client.
    let mut d2 = discover(mac(2));
    d2.opts_mut()
        .insert(DhcpOption::ClientIdentifier(id.clone()));
    let r2 = s.decide(now, &ingress(), &d2);
    assert_eq!(reply_of(&r2).message.yiaddr(), a);
    // NAKs echo it too.
    let mut bad = init_reboot(mac(1), ip("10.7.7.7"));
    bad.opts_mut()
        .insert(DhcpOption::ClientIdentifier(id.clone()));
    let n = s.decide(now, &ingress(), &bad);
    assert_eq!(mtype(&n), Some(MessageType::Nak));
    let (_, o) = wire_opts(&reply_of(&n).encode().unwrap());
    assert_eq!(o[&61], id);
}

// ------------------------------------------------------ maximum msg size

fn bulky_lan() -> SubnetConfig {
    let mut c = lan();
    c.tftp_servers = vec![ip("192.168.1.2"), ip("192.168.1.3")];
    c.options = vec![
        OptionSpec::new(43, OptionValue::Bytes(vec![0xab; 200])),
        OptionSpec::new(67, OptionValue::Text("x".repeat(150))),
        OptionSpec::new(17, OptionValue::Text("r".repeat(100))),
    ];
    c
}

fn bulky_discover(m: [u8; 6]) -> Message {
    let mut d = discover(m);
    d.opts_mut().insert(DhcpOption::ParameterRequestList(
        [1u8, 3, 6, 15, 66, 150, 43, 67, 17]
            .into_iter()
            .map(OptionCode::from)
            .collect(),
    ));
    d
}

#[test]
fn reply_fits_548_bytes_without_option_57_dropping_optional_options_only() {
    let mut s = server_with(bulky_lan(), Limits::default());
    let r = s.decide(t0(), &ingress(), &bulky_discover(mac(1)));
    let reply = reply_of(&r);
    let bytes = reply.encode().unwrap();
    assert!(bytes.len() <= 548, "{} bytes", bytes.len());
    let (_, o) = wire_opts(&bytes);
    for code in [1, 3, 51, 53, 54, 150, 66] {
        assert!(o.contains_key(&code), "{code} dropped");
    }
    let dropped = &r.events.last().unwrap().dropped_options;
    assert!(!dropped.is_empty());
    for code in dropped {
        assert!(!o.contains_key(code));
    }
    // Later-requested options go first: 17 was requested last.
    assert!(dropped.contains(&17));
}

#[test]
fn larger_option_57_lets_everything_fit_and_tiny_57_counts_as_576() {
    let mut s = server_with(bulky_lan(), Limits::default());
    let mut d = bulky_discover(mac(1));
    d.opts_mut().insert(DhcpOption::MaxMessageSize(1500));
    let r = s.decide(t0(), &ingress(), &d);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    for code in [43, 67, 17] {
        assert!(o.contains_key(&code), "{code} missing");
    }
    assert!(r.events.last().unwrap().dropped_options.is_empty());

    let mut d = bulky_discover(mac(2));
    d.opts_mut().insert(DhcpOption::MaxMessageSize(100));
    let r = s.decide(t0(), &ingress(), &d);
    let bytes = reply_of(&r).encode().unwrap();
    assert!(bytes.len() <= 548 && bytes.len() > 400, "{}", bytes.len());
}

// ------------------------------------------------------- abuse protection

#[test]
fn rate_limit_per_mac_drops_then_recovers() {
    let limits = Limits {
        rate_burst: 3,
        rate_per_minute: 1,
        ..Limits::default()
    };
    let mut s = server_with(lan(), limits);
    let now = t0();
    for _ in 0..3 {
        assert!(s.decide(now, &ingress(), &discover(mac(1))).reply.is_some());
    }
    let d = s.decide(now, &ingress(), &discover(mac(1)));
    assert!(d.reply.is_none());
    assert_eq!(last_reason(&d), Some(Reason::RateLimited));
    // Another MAC is not affected.
    assert!(s.decide(now, &ingress(), &discover(mac(2))).reply.is_some());
    // A minute later one token is back.
    let later = now + Duration::from_secs(60);
    assert!(s
        .decide(later, &ingress(), &discover(mac(1)))
        .reply
        .is_some());
    assert!(s
        .decide(later, &ingress(), &discover(mac(1)))
        .reply
        .is_none());
}

#[test]
fn offer_cap_stops_a_flood_of_fake_macs_until_offers_expire() {
    let limits = Limits {
        max_offers: 3,
        ..Limits::default()
    };
    let mut s = server_with(lan(), limits);
    let now = t0();
    for n in 0..3 {
        assert!(s.decide(now, &ingress(), &discover(mac(n))).reply.is_some());
    }
    let d = s.decide(now, &ingress(), &discover(mac(3)));
    assert!(d.reply.is_none());
    assert_eq!(last_reason(&d), Some(Reason::OfferCap));
    // A client completing its exchange frees a slot.
    let a = s.decide(now, &ingress(), &discover(mac(0)));
    let y = reply_of(&a).message.yiaddr();
    assert_eq!(
        mtype(&s.decide(now, &ingress(), &select(mac(0), y, SERVER))),
        Some(MessageType::Ack)
    );
    assert!(s.decide(now, &ingress(), &discover(mac(3))).reply.is_some());
    // Once offers expire, the flood's addresses come back.
    let later = now + Duration::from_secs(31);
    for n in 4..7 {
        assert!(
            s.decide(later, &ingress(), &discover(mac(n)))
                .reply
                .is_some(),
            "{n}"
        );
    }
}

#[test]
fn offers_cannot_hold_more_than_their_share_of_a_subnet() {
    // Pool of 10, 50 % share: at most 5 outstanding offers.
    let mut s = server();
    let now = t0();
    for n in 0..5 {
        assert!(s.decide(now, &ingress(), &discover(mac(n))).reply.is_some());
    }
    let d = s.decide(now, &ingress(), &discover(mac(5)));
    assert_eq!(last_reason(&d), Some(Reason::OfferCap));
}

#[test]
fn rate_limiter_table_is_bounded() {
    let limits = Limits {
        max_tracked_clients: 2,
        ..Limits::default()
    };
    let mut s = server_with(lan(), limits);
    let now = t0();
    let _ = s.decide(now, &ingress(), &discover(mac(1)));
    let _ = s.decide(now, &ingress(), &discover(mac(2)));
    let d = s.decide(now, &ingress(), &discover(mac(3)));
    assert_eq!(last_reason(&d), Some(Reason::TooManyClients));
    // Idle entries are forgotten once their buckets refill.
    let later = now + Duration::from_secs(3600);
    assert!(s
        .decide(later, &ingress(), &discover(mac(3)))
        .reply
        .is_some());
}

// ---------------------------------------------------------------- restore

#[test]
fn restored_leases_keep_their_addresses() {
    let mut s = server();
    let now = t0();
    let held = ip("192.168.1.103");
    let report = s.restore(
        vec![
            Lease {
                mac: Mac(mac(1)),
                client_id: None,
                ip: held,
                expires: now + Duration::from_secs(600),
                model: Some("7960".into()),
                hostname: None,
            },
            Lease {
                mac: Mac(mac(2)),
                client_id: None,
                ip: ip("172.16.0.5"),
                expires: now + Duration::from_secs(600),
                model: None,
                hostname: None,
            },
        ],
        now,
    );
    assert_eq!(report.active, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(s.lease(held, now).unwrap().model.as_deref(), Some("7960"));
    // The owner rediscovering gets it back; another client asking does not.
    let d = s.decide(now, &ingress(), &discover(mac(1)));
    assert_eq!(reply_of(&d).message.yiaddr(), held);
    let mut ask = discover(mac(3));
    ask.opts_mut().insert(DhcpOption::RequestedIpAddress(held));
    let d = s.decide(now, &ingress(), &ask);
    assert_ne!(reply_of(&d).message.yiaddr(), held);
    // Renewal of the restored lease is acked, not adopted.
    let d = s.decide(now, &unicast_ingress(held), &renew(mac(1), held));
    assert_eq!(mtype(&d), Some(MessageType::Ack));
    assert_eq!(last_reason(&d), None);
}

#[test]
fn restore_keeps_the_later_of_two_leases_on_one_address() {
    let mut s = server();
    let now = t0();
    let a = ip("192.168.1.103");
    let lease = |m, secs| Lease {
        mac: Mac(mac(m)),
        client_id: None,
        ip: a,
        expires: now + Duration::from_secs(secs),
        model: None,
        hostname: None,
    };
    let report = s.restore(vec![lease(1, 100), lease(2, 200)], now);
    assert_eq!(report.rejected, vec![lease(1, 100)]);
    assert_eq!(s.lease(a, now).unwrap().mac, Mac(mac(2)));
}

// ------------------------------------------------------------ bad input

#[test]
fn bootreply_from_another_server_is_a_warning_event() {
    let mut s = server();
    let mut m = msg(mac(1), MessageType::Offer);
    m.set_opcode(Opcode::BootReply);
    m.opts_mut()
        .insert(DhcpOption::ServerIdentifier(ip("192.168.1.254")));
    let d = s.decide(t0(), &ingress(), &m);
    assert!(d.reply.is_none());
    let e = d.events.last().unwrap();
    assert_eq!(e.kind, EventKind::ForeignServer);
    assert_eq!(e.ip, Some(ip("192.168.1.254")));
}

#[test]
fn malformed_requests_get_no_reply_and_a_reason() {
    let mut s = server();
    let now = t0();
    let mut no_type = discover(mac(1));
    no_type.opts_mut().remove(OptionCode::MessageType);
    let d = s.decide(now, &ingress(), &no_type);
    assert!(d.reply.is_none());
    assert_eq!(last_reason(&d), Some(Reason::NoMessageType));

    let mut wrong_htype = discover(mac(1));
    wrong_htype.set_htype(HType::from(6));
    let d = s.decide(now, &ingress(), &wrong_htype);
    assert_eq!(
        last_reason(&d),
        Some(Reason::BadHardware { htype: 6, hlen: 6 })
    );

    // hlen above 16 would make dhcproto's chaddr() panic: it must be refused first.
    let mut long = discover(mac(1));
    long.set_chaddr(&[1u8; 20]);
    let d = s.decide(now, &ingress(), &long);
    assert_eq!(
        last_reason(&d),
        Some(Reason::BadHardware { htype: 1, hlen: 20 })
    );

    let d = s.decide(now, &ingress(), &msg(mac(1), MessageType::Unknown(99)));
    assert_eq!(last_reason(&d), Some(Reason::UnsupportedMessageType(99)));

    let d = s.decide(now, &ingress(), &msg(mac(1), MessageType::Offer));
    assert_eq!(last_reason(&d), Some(Reason::UnsupportedMessageType(2)));
    for e in &d.events {
        assert_eq!(e.kind, EventKind::Dropped);
    }
}

#[test]
fn request_on_an_interface_with_no_subnet_is_dropped() {
    let mut s = server();
    let other = Ingress {
        local_addr: ip("172.20.0.1"),
        ..ingress()
    };
    let d = s.decide(t0(), &other, &discover(mac(1)));
    assert!(d.reply.is_none());
    assert_eq!(
        last_reason(&d),
        Some(Reason::NoSubnetForInterface(ip("172.20.0.1")))
    );
}

// ---------------------------------------------------------- destinations

#[test]
fn destination_follows_rfc_2131_section_4_1() {
    let y = ip("192.168.1.100");
    let mut m = msg(mac(1), MessageType::Request);
    assert_eq!(
        Destination::for_reply(&m, MessageType::Ack, y),
        Destination::Chaddr {
            yiaddr: y,
            chaddr: Mac(mac(1))
        }
    );
    assert_eq!(
        Destination::for_reply(&m, MessageType::Nak, Ipv4Addr::UNSPECIFIED),
        Destination::Broadcast
    );
    m.set_flags(Flags::default().set_broadcast());
    assert_eq!(
        Destination::for_reply(&m, MessageType::Offer, y),
        Destination::Broadcast
    );
    m.set_ciaddr(y);
    assert_eq!(
        Destination::for_reply(&m, MessageType::Ack, y),
        Destination::Ciaddr(y)
    );
    assert_eq!(
        Destination::for_reply(&m, MessageType::Nak, y),
        Destination::Broadcast
    );
    m.set_giaddr(RELAY);
    assert_eq!(
        Destination::for_reply(&m, MessageType::Nak, y),
        Destination::Relay(RELAY)
    );
    assert_eq!(
        Destination::Broadcast.socket_addr(),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    );
}

// ----------------------------------------------------------------- config

#[test]
fn config_errors_name_the_bad_value() {
    let err = |c: SubnetConfig| Subnet::try_from(c).unwrap_err();
    let mut c = lan();
    c.network = ip("192.168.1.5");
    assert_eq!(
        err(c).to_string(),
        "subnet 192.168.1.5/24 has host bits set (did you mean 192.168.1.0/24?)"
    );

    let mut c = lan();
    c.pool = vec![(ip("192.168.2.1"), ip("192.168.2.9"))];
    assert!(matches!(
        err(c),
        ConfigError::OutsideSubnet {
            what: "pool start",
            ..
        }
    ));

    let mut c = lan();
    c.pool = vec![(ip("192.168.1.9"), ip("192.168.1.1"))];
    assert!(matches!(err(c), ConfigError::BackwardsRange { .. }));

    let mut c = lan();
    c.reservations = vec![
        Reservation {
            mac: Mac(mac(1)),
            ip: ip("192.168.1.10"),
        },
        Reservation {
            mac: Mac(mac(1)),
            ip: ip("192.168.1.11"),
        },
    ];
    assert!(matches!(
        err(c),
        ConfigError::DuplicateReservationMac { .. }
    ));

    let mut c = lan();
    c.reservations = vec![
        Reservation {
            mac: Mac(mac(1)),
            ip: ip("192.168.1.10"),
        },
        Reservation {
            mac: Mac(mac(2)),
            ip: ip("192.168.1.10"),
        },
    ];
    assert!(matches!(err(c), ConfigError::DuplicateReservationIp { .. }));

    let mut c = lan();
    c.reservations = vec![Reservation {
        mac: Mac(mac(1)),
        ip: ip("10.0.0.1"),
    }];
    assert!(matches!(
        err(c),
        ConfigError::OutsideSubnet {
            what: "reservation",
            ..
        }
    ));

    let mut c = lan();
    c.options = vec![OptionSpec::new(53, OptionValue::U8(1))];
    assert!(matches!(
        err(c),
        ConfigError::ReservedOption { code: 53, .. }
    ));

    let mut c = lan();
    c.options = vec![OptionSpec::new(
        66,
        OptionValue::Text("tftp.example".into()),
    )];
    assert!(matches!(err(c), ConfigError::Option66NotIp(_)));

    let mut c = lan();
    c.options = vec![OptionSpec::new(
        150,
        OptionValue::Text("192.168.1.1".into()),
    )];
    assert!(matches!(err(c), ConfigError::OptionType { code: 150, .. }));

    let mut c = lan();
    c.options = vec![OptionSpec::new(6, OptionValue::Ips(vec![ip("1.1.1.1")]))];
    assert_eq!(err(c), ConfigError::DuplicateOption { code: 6 });

    let mut c = lan();
    c.pool = vec![(ip("192.168.1.1"), ip("192.168.1.1"))];
    assert!(matches!(err(c), ConfigError::EmptyPool { .. }));

    let mut c = lan();
    c.prefix_len = 31;
    assert!(matches!(err(c), ConfigError::BadPrefix { .. }));

    let mut c = lan();
    c.lease_time = Duration::ZERO;
    assert!(matches!(err(c), ConfigError::BadLeaseTime(_)));

    let a = Subnet::try_from(lan()).unwrap();
    let b = Subnet::try_from(SubnetConfig::new(ip("192.168.0.0"), 16)).unwrap();
    assert!(matches!(
        ServerConfig::new(vec![a, b]),
        Err(ConfigError::OverlappingSubnets { .. })
    ));
    assert_eq!(
        ServerConfig::new(vec![]).unwrap_err(),
        ConfigError::NoSubnets
    );
}

#[test]
fn server_network_and_broadcast_addresses_are_never_in_the_pool() {
    let mut c = SubnetConfig::new(ip("192.168.1.0"), 30);
    c.server_addr = Some(ip("192.168.1.1"));
    let s = Subnet::try_from(c).unwrap();
    assert_eq!(s.pool_size(), 1);
    let mut c = lan();
    c.pool = vec![(ip("192.168.1.0"), ip("192.168.1.255"))];
    c.exclude = vec![(ip("192.168.1.200"), ip("192.168.1.209"))];
    assert_eq!(Subnet::try_from(c).unwrap().pool_size(), 256 - 3 - 10);
}

#[test]
fn macs_print_and_hex_parses_in_common_spellings() {
    let want = Mac([0x00, 0x1b, 0x54, 0xaa, 0xbb, 0xcc]);
    assert_eq!(want.to_string(), "00:1b:54:aa:bb:cc");
    assert_eq!(
        OptionValue::from_hex("0xc0a80101").unwrap(),
        OptionValue::Bytes(vec![0xc0, 0xa8, 1, 1])
    );
    assert!(OptionValue::from_hex("c0a").is_err());
    assert_eq!(parse_cidr("10.0.0.0/8").unwrap(), (ip("10.0.0.0"), 8));
    assert!(parse_cidr("10.0.0.0").is_err());
}

// ----------------------------------------------------- dhcp-option export

#[test]
fn option_150_formats_match_hand_computed_values() {
    assert_eq!(export::option150_tftpd32(ip("192.168.1.1")), "0x0101A8C0");
    assert_eq!(export::option150_tftpd32(ip("10.0.0.2")), "0x0200000A");
    let f = option150_formats(&[ip("192.168.1.1"), ip("10.0.0.2")]);
    let get = |name| f.iter().find(|x| x.name == name).unwrap().text.clone();
    assert_eq!(get("hex"), "c0a801010a000002");
    assert_eq!(get("tftpd32"), "0x0101A8C0 0x0200000A");
    assert_eq!(
        get("isc-dhcpd"),
        "option tftp-server-address code 150 = array of ip-address;\n\
         option tftp-server-address 192.168.1.1, 10.0.0.2;"
    );
    assert_eq!(get("dnsmasq"), "dhcp-option-force=150,192.168.1.1,10.0.0.2");
    assert_eq!(get("cisco-ios"), "option 150 ip 192.168.1.1 10.0.0.2");
    assert_eq!(
        get("mikrotik"),
        "/ip dhcp-server option add code=150 name=tftp150 value=0xc0a801010a000002"
    );
    let kea: serde_json::Value = serde_json::from_str(&get("kea")).unwrap();
    let def = &kea["Dhcp4"]["option-def"][0];
    assert_eq!(def["code"], 150);
    assert_eq!(def["type"], "ipv4-address");
    assert_eq!(def["array"], true);
    let data = &kea["Dhcp4"]["option-data"][0];
    assert_eq!(data["name"], def["name"]);
    assert_eq!(data["data"], "192.168.1.1, 10.0.0.2");
    assert_eq!(f.len(), 7);
}

// ---------------------------------------------------------------- fuzzing

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn valid_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut with_all = bulky_discover(mac(7));
    with_all.opts_mut().insert(DhcpOption::ClassIdentifier(
        b"Cisco Systems, Inc. IP Phone CP-7960G\0".to_vec(),
    ));
    with_all
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(vec![1, 2, 3]));
    with_all.opts_mut().insert(DhcpOption::MaxMessageSize(600));
    let mut relayed = discover(mac(8));
    relayed.set_giaddr(ip("10.1.0.1"));
    let mut info = RelayAgentInformation::default();
    info.insert(RelayInfo::AgentCircuitId(b"x".to_vec()));
    relayed
        .opts_mut()
        .insert(DhcpOption::RelayAgentInformation(info));
    let fz = ip("10.0.0.100");
    for m in [
        with_all,
        relayed,
        select(mac(7), fz, ip("10.0.0.1")),
        init_reboot(mac(7), fz),
        renew(mac(7), fz),
        decline(mac(7), fz),
        msg(mac(7), MessageType::Release),
        msg(mac(7), MessageType::Inform),
    ] {
        out.push(m.to_vec().unwrap());
    }
    out
}

#[test]
fn fuzzing_entry_never_panics_on_random_and_mutated_input() {
    let seed = 0x9e37_79b9_7f4a_7c15_u64;
    eprintln!("fuzz seed {seed:#x}");
    let mut rng = XorShift(seed);
    let seeds = valid_seeds();
    let mut server = fuzzing::small_server();
    let base = t0();
    let (mut decoded, mut replies) = (0usize, 0usize);
    // One plain call through the public fresh-server entry point.
    fuzzing::decide_datagram(&seeds[0]);
    for i in 0..3000u64 {
        let data: Vec<u8> = if i % 3 == 0 {
            let len = rng.below(700);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut d = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(8) {
                match rng.below(5) {
                    0 => {
                        let at = rng.below(d.len());
                        d[at] ^= 1 << rng.below(8);
                    }
                    1 => {
                        let at = rng.below(d.len());
                        d[at] = rng.next() as u8;
                    }
                    2 => {
                        // Mostly inside the options, sometimes anywhere.
                        let keep = if d.len() > 240 && rng.below(4) != 0 {
                            240 + rng.below(d.len() - 239)
                        } else {
                            rng.below(d.len() + 1)
                        };
                        d.truncate(keep.max(1));
                    }
                    3 => {
                        // Corrupt an option length byte past the header.
                        if d.len() > 242 {
                            let at = 240 + rng.below(d.len() - 240);
                            d[at] = [0, 1, 4, 255][rng.below(4)];
                        }
                    }
                    _ => {
                        // hlen, htype and op are the header's sharp edges.
                        let at = rng.below(d.len().min(3));
                        d[at] = rng.next() as u8;
                    }
                }
                if d.is_empty() {
                    d.push(0);
                }
            }
            d
        };
        let now = base + Duration::from_secs(i);
        if let Some(r) = fuzzing::decide_datagram_with(&mut server, now, &data) {
            decoded += 1;
            replies += r;
        }
    }
    // The mutated inputs must reach `decide`, not just bounce off the decoder.
    eprintln!("{decoded} decoded, {replies} replies");
    assert!(decoded > 1000, "only {decoded} inputs decoded");
    assert!(replies > 100, "only {replies} replies");
}

#[test]
fn decode_refuses_lengths_dhcproto_would_assert_on() {
    let mut m = discover(mac(1));
    m.opts_mut().remove(OptionCode::ParameterRequestList);
    let good = m.to_vec().unwrap();
    assert_eq!(decode(&good).unwrap(), m);
    // Option 94 (client network interface) must be 3 bytes long; dhcproto
    // debug-asserts it. Insert a 2-byte one before End.
    let end = good.iter().rposition(|b| *b == 255).unwrap();
    let mut bad = good.clone();
    bad.splice(end..end, [94, 2, 1, 2]);
    assert_eq!(
        decode(&bad),
        Err(WireError::BadOptionLength { code: 94, len: 2 })
    );
    let mut bad = good.clone();
    bad.splice(end..end, [151, 0]);
    assert_eq!(
        decode(&bad),
        Err(WireError::BadOptionLength { code: 151, len: 0 })
    );
    assert_eq!(decode(&good[..100]), Err(WireError::Short(100)));
    let mut bootp = good.clone();
    bootp[236] = 0;
    assert!(matches!(decode(&bootp), Err(WireError::BadCookie(_))));
}

#[test]
fn client_moving_to_another_subnet_releases_its_old_lease_on_ack() {
    let mut s = server();
    let now = t0();
    let old = dora(&mut s, mac(1), now);
    let mut d = discover(mac(1));
    d.set_giaddr(RELAY);
    let offer = s.decide(now, &ingress(), &d);
    let new = reply_of(&offer).message.yiaddr();
    assert_eq!(new.octets()[..3], [10, 1, 0]);
    // Still bound on the old address until the new one is acknowledged.
    assert!(s.lease(old, now).is_some());
    let mut r = select(mac(1), new, SERVER);
    r.set_giaddr(RELAY);
    let ack = s.decide(now, &ingress(), &r);
    assert_eq!(mtype(&ack), Some(MessageType::Ack));
    assert_eq!(
        ack.lease_ops[0],
        LeaseOp::Release {
            mac: Mac(mac(1)),
            client_id: None,
            ip: old
        }
    );
    assert!(matches!(&ack.lease_ops[1], LeaseOp::Upsert(l) if l.ip == new));
    assert!(s.lease(old, now).is_none());
}

#[test]
fn configured_values_go_out_byte_for_byte() {
    let mut c = lan();
    c.options = vec![
        // 13 is a u16 in RFC 2132; a u32 given by the operator is sent as is,
        // not cut to two bytes.
        OptionSpec::new(13, OptionValue::U32(0x0102_0304)),
        OptionSpec::new(2, OptionValue::Bytes(vec![0xff, 0xff, 0x8f, 0x80])),
        OptionSpec::new(67, OptionValue::Text("SEPDefault.cnf".into())),
    ];
    let mut s = server_with(c, Limits::default());
    let mut d = discover(mac(1));
    d.opts_mut().remove(OptionCode::ParameterRequestList);
    let r = s.decide(t0(), &ingress(), &d);
    let (_, o) = wire_opts(&reply_of(&r).encode().unwrap());
    assert_eq!(o[&13], [1, 2, 3, 4]);
    assert_eq!(o[&2], [0xff, 0xff, 0x8f, 0x80]);
    assert_eq!(o[&67], b"SEPDefault.cnf");
}

// ------------------------------------------------ servers sharing a store

#[test]
fn servers_sharing_a_store_answer_each_client_exactly_once() {
    let t = t0();
    let wide = || {
        let mut c = lan();
        c.pool = vec![(ip("192.168.1.100"), ip("192.168.1.200"))];
        server_with(c, Limits::default())
    };
    let mut a = wide();
    let mut b = wide();
    a.set_share(Share::new(0, 2).unwrap());
    b.set_share(Share::new(1, 2).unwrap());
    let (mut by_a, mut by_b) = (0, 0);
    for n in 0..60u8 {
        let m = mac(n);
        let da = a.decide(t, &ingress(), &discover(m));
        let db = b.decide(t, &ingress(), &discover(m));
        let offers = [&da, &db]
            .iter()
            .filter(|d| mtype(d) == Some(MessageType::Offer))
            .count();
        assert_eq!(offers, 1, "client {n} got {offers} offers");
        // A silent share leaves no trace: no event, no lease op.
        let silent = if mtype(&da).is_some() { &db } else { &da };
        assert!(silent.events.is_empty() && silent.lease_ops.is_empty());
        if mtype(&da).is_some() {
            by_a += 1;
        } else {
            by_b += 1;
        }
    }
    assert!(by_a > 10 && by_b > 10, "{by_a} / {by_b}");
    // A request naming a server by its identifier is that server's, and a
    // renewal unicast to a server is answered whatever the share.
    let m = (0..60u8)
        .map(mac)
        .find(|m| !a.share().owns(Mac(*m), None))
        .unwrap();
    let offer = b.decide(t, &ingress(), &discover(m));
    let yiaddr = reply_of(&offer).message.yiaddr();
    let mut other = server();
    other.set_share(Share::new(0, 2).unwrap());
    assert!(other
        .decide(t, &ingress(), &select(m, yiaddr, ip("192.168.1.2")))
        .reply
        .is_none());
    let ack = b.decide(t, &ingress(), &select(m, yiaddr, SERVER));
    assert_eq!(mtype(&ack), Some(MessageType::Ack));
    // After a takeover (a alone), a answers b's client, renewing or not.
    a.set_share(Share::ALL);
    assert_eq!(
        mtype(&a.decide(t, &unicast_ingress(yiaddr), &renew(m, yiaddr))),
        Some(MessageType::Ack)
    );
}

#[test]
fn a_rebinding_broadcast_is_answered_by_its_share_only() {
    let t = t0();
    let mut a = server();
    let mut b = server();
    a.set_share(Share::new(0, 2).unwrap());
    b.set_share(Share::new(1, 2).unwrap());
    let m = (0..60u8)
        .map(mac)
        .find(|m| b.share().owns(Mac(*m), None))
        .unwrap();
    let offer = b.decide(t, &ingress(), &discover(m));
    let yiaddr = reply_of(&offer).message.yiaddr();
    let ack = b.decide(t, &ingress(), &select(m, yiaddr, SERVER));
    assert_eq!(mtype(&ack), Some(MessageType::Ack));
    // T2: the client broadcasts from its address, naming no server.
    let rebinding = Ingress {
        source: SocketAddrV4::new(yiaddr, 68),
        broadcast: true,
        ..ingress()
    };
    let silent = a.decide(t, &rebinding, &renew(m, yiaddr));
    assert!(silent.reply.is_none() && silent.events.is_empty() && silent.lease_ops.is_empty());
    assert_eq!(
        mtype(&b.decide(t, &rebinding, &renew(m, yiaddr))),
        Some(MessageType::Ack)
    );
    // T1: the same request unicast to a is a's to answer.
    assert!(a
        .decide(t, &unicast_ingress(yiaddr), &renew(m, yiaddr))
        .reply
        .is_some());
}

#[test]
fn option_150_lists_the_live_servers_after_our_own() {
    let t = t0();
    let mut s = server();
    s.set_peer_tftp_servers(vec![ip("192.168.1.2"), SERVER, ip("192.168.1.3")]);
    let offer = s.decide(t, &ingress(), &discover(mac(1)));
    let bytes = reply_of(&offer).encode().unwrap();
    let (_, opts) = wire_opts(&bytes);
    assert_eq!(
        opts[&150],
        [192, 168, 1, 1, 192, 168, 1, 2, 192, 168, 1, 3],
        "ours first, each once"
    );
    assert_eq!(opts[&66], b"192.168.1.1");
    // A configured option 150 stands.
    let mut c = lan();
    c.tftp_servers = vec![ip("192.168.1.77")];
    let mut s = server_with(c, Limits::default());
    s.set_peer_tftp_servers(vec![ip("192.168.1.2")]);
    let offer = s.decide(t, &ingress(), &discover(mac(1)));
    let (_, opts) = wire_opts(&reply_of(&offer).encode().unwrap());
    assert_eq!(opts[&150], [192, 168, 1, 77]);
}

#[test]
fn an_address_taken_elsewhere_is_withdrawn_and_not_offered_again() {
    let t = t0();
    let mut s = server();
    let m = mac(1);
    let offer = s.decide(t, &ingress(), &discover(m));
    let taken = reply_of(&offer).message.yiaddr();
    let ack = s.decide(t, &ingress(), &select(m, taken, SERVER));
    assert_eq!(mtype(&ack), Some(MessageType::Ack));
    // The store refused the claim: the ACK was never sent.
    s.taken_elsewhere(taken, t);
    let again = s.decide(t, &ingress(), &select(m, taken, SERVER));
    assert_eq!(mtype(&again), Some(MessageType::Nak), "{:?}", again.events);
    assert!(
        again.lease_ops.is_empty(),
        "nothing written for their lease"
    );
    let offer = s.decide(t, &ingress(), &discover(m));
    assert_ne!(reply_of(&offer).message.yiaddr(), taken);
    assert!(s.lease(taken, t).is_none());
}
