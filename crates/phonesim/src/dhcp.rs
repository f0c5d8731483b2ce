//! The phones' DHCP client: DISCOVER and REQUEST as a Cisco phone sends them
//! (option 60 with its trailing NUL, 55 `1,66,6,3,15,150,35`, 61, 12, the
//! broadcast flag), replies read for option 150 (first address) or else 66.
//!
//! All phones share one socket on port 68 bound to the interface
//! (SO_BINDTODEVICE); a receive task hands each reply to the phone whose
//! transaction id and hardware address it carries. Only ever point this at an
//! interface inside a network namespace: leased addresses are added to it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cisco::{Mac, Model};
use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// What a 79xx asks for in option 55 (PHONES.md, "DHCP").
pub const PARAMETER_REQUEST_LIST: [u8; 7] = [1, 66, 6, 3, 15, 150, 35];

/// Why a phone got no lease.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DhcpError {
    #[error("DHCP reply unreadable: {0}")]
    Malformed(String),
    #[error("no DHCP {0} after {1} tries: is a DHCP server answering on the interface?")]
    NoReply(&'static str, u32),
    #[error("the DHCP server refused the request (DHCPNAK)")]
    Nak,
    #[error("the lease names no TFTP server: answer option 150 (or 66 with a dotted IP)")]
    NoTftpServer,
    #[error("cannot open the DHCP client socket on {iface}: {source} (run as root, inside a network namespace)")]
    Socket {
        iface: String,
        source: std::io::Error,
    },
    #[error("cannot add {addr} to {iface}: {reason}")]
    AddAddress {
        addr: String,
        iface: String,
        reason: String,
    },
}

fn base(mac: Mac, xid: u32, model: Model, kind: MessageType) -> v4::Message {
    let mut m = v4::Message::default();
    m.set_opcode(v4::Opcode::BootRequest)
        .set_htype(v4::HType::Eth)
        .set_xid(xid)
        .set_chaddr(&mac.0)
        .set_flags(v4::Flags::default().set_broadcast());
    let mut client_id = vec![1u8];
    client_id.extend_from_slice(&mac.0);
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    opts.insert(DhcpOption::ClassIdentifier(model.vendor_class().to_vec()));
    opts.insert(DhcpOption::Hostname(format!("SEP{}", mac.file_form())));
    opts.insert(DhcpOption::ParameterRequestList(
        PARAMETER_REQUEST_LIST
            .iter()
            .map(|c| OptionCode::from(*c))
            .collect(),
    ));
    m
}

/// A phone's DHCPDISCOVER.
pub fn discover(mac: Mac, xid: u32, model: Model) -> v4::Message {
    base(mac, xid, model, MessageType::Discover)
}

/// A phone's DHCPREQUEST for `offered` from `server` (SELECTING state,
/// RFC 2131 §4.3.2: requested address and server id, ciaddr zero).
pub fn request(
    mac: Mac,
    xid: u32,
    model: Model,
    offered: Ipv4Addr,
    server: Ipv4Addr,
) -> v4::Message {
    let mut m = base(mac, xid, model, MessageType::Request);
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(offered));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    m
}

/// The parts of a server reply a phone uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Option 53 (2 OFFER, 5 ACK, 6 NAK).
    pub kind: u8,
    pub xid: u32,
    pub chaddr: [u8; 6],
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    /// From option 1.
    pub prefix: Option<u8>,
    /// Option 150, in order.
    pub tftp_servers: Vec<Ipv4Addr>,
    /// Option 66 as text.
    pub tftp_name: Option<String>,
}

impl Reply {
    /// Reads a BOOTREPLY. Options are walked by hand because dhcproto reads
    /// option 150 as a single address and stops at a list.
    pub fn parse(bytes: &[u8]) -> Result<Reply, DhcpError> {
        let msg = v4::Message::decode(&mut Decoder::new(bytes))
            .map_err(|e| DhcpError::Malformed(e.to_string()))?;
        if msg.opcode() != v4::Opcode::BootReply {
            return Err(DhcpError::Malformed("not a BOOTREPLY".into()));
        }
        let mut chaddr = [0u8; 6];
        if let Some(c) = msg.chaddr().get(..6) {
            chaddr.copy_from_slice(c);
        }
        let mut r = Reply {
            kind: 0,
            xid: msg.xid(),
            chaddr,
            yiaddr: msg.yiaddr(),
            server_id: None,
            prefix: None,
            tftp_servers: Vec::new(),
            tftp_name: None,
        };
        let ip = |v: &[u8]| <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from);
        for (code, value) in raw_options(bytes)? {
            match code {
                53 => r.kind = value.first().copied().unwrap_or(0),
                54 => r.server_id = ip(value),
                1 => r.prefix = ip(value).map(|m| u32::from(m).leading_ones() as u8),
                150 => r.tftp_servers = value.chunks_exact(4).filter_map(ip).collect(),
                66 => {
                    let text = String::from_utf8_lossy(value);
                    r.tftp_name = Some(text.trim_end_matches('\0').trim().to_owned());
                }
                _ => {}
            }
        }
        if r.kind == 0 {
            return Err(DhcpError::Malformed("no message type (option 53)".into()));
        }
        Ok(r)
    }

    /// Where the phone fetches its files: the first address of option 150,
    /// else option 66 if it is a dotted address (phones want an IP there).
    pub fn tftp_server(&self) -> Option<Ipv4Addr> {
        self.tftp_servers
            .first()
            .copied()
            .or_else(|| self.tftp_name.as_deref().and_then(|n| n.parse().ok()))
    }
}

/// `(code, value)` of every option after the magic cookie, pads skipped,
/// up to the end option.
fn raw_options(bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, DhcpError> {
    const COOKIE: [u8; 4] = [99, 130, 83, 99];
    if bytes.get(236..240) != Some(&COOKIE[..]) {
        return Err(DhcpError::Malformed("no magic cookie".into()));
    }
    let mut out = Vec::new();
    let mut rest = bytes.get(240..).unwrap_or_default();
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            0 => rest = tail,
            255 => break,
            _ => {
                let Some((&len, tail)) = tail.split_first() else {
                    break;
                };
                let Some(value) = tail.get(..usize::from(len)) else {
                    return Err(DhcpError::Malformed(format!("option {code} is truncated")));
                };
                out.push((code, value));
                rest = &tail[usize::from(len)..];
            }
        }
    }
    Ok(out)
}

/// A lease as the phone uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub server_id: Ipv4Addr,
    pub tftp_server: Ipv4Addr,
}

type Waiters = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Reply>>>>;

/// One port-68 socket shared by every simulated phone on an interface.
pub struct DhcpClient {
    sock: Arc<UdpSocket>,
    waiters: Waiters,
    task: tokio::task::JoinHandle<()>,
    /// Time to wait for each reply before resending.
    pub retransmit: Duration,
    pub tries: u32,
}

impl Drop for DhcpClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DhcpClient {
    /// Binds 0.0.0.0:68 on `iface` with broadcast allowed.
    pub fn bind(iface: &str) -> Result<DhcpClient, DhcpError> {
        let err = |source| DhcpError::Socket {
            iface: iface.to_owned(),
            source,
        };
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(err)?;
        s.set_reuse_address(true).map_err(err)?;
        s.set_broadcast(true).map_err(err)?;
        s.bind_device(Some(iface.as_bytes())).map_err(err)?;
        s.set_nonblocking(true).map_err(err)?;
        s.bind(&SocketAddr::from(([0, 0, 0, 0], 68)).into())
            .map_err(err)?;
        let sock = Arc::new(UdpSocket::from_std(s.into()).map_err(err)?);
        let waiters: Waiters = Arc::default();
        let task = tokio::spawn(demux(sock.clone(), waiters.clone()));
        Ok(DhcpClient {
            sock,
            waiters,
            task,
            retransmit: Duration::from_secs(2),
            tries: 5,
        })
    }

    /// DISCOVER → OFFER → REQUEST → ACK for one phone.
    pub async fn lease(&self, mac: Mac, model: Model, xid: u32) -> Result<Lease, DhcpError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(xid, tx);
        let result = self.exchange(mac, model, xid, &mut rx).await;
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&xid);
        result
    }

    async fn exchange(
        &self,
        mac: Mac,
        model: Model,
        xid: u32,
        rx: &mut mpsc::UnboundedReceiver<Reply>,
    ) -> Result<Lease, DhcpError> {
        let offer = self
            .ask(&discover(mac, xid, model), mac, rx, 2, "OFFER")
            .await?;
        let server = offer
            .server_id
            .ok_or_else(|| DhcpError::Malformed("offer without server id (option 54)".into()))?;
        let ack = self
            .ask(
                &request(mac, xid, model, offer.yiaddr, server),
                mac,
                rx,
                5,
                "ACK",
            )
            .await?;
        Ok(Lease {
            addr: ack.yiaddr,
            prefix: ack.prefix.unwrap_or(24),
            server_id: server,
            tftp_server: ack.tftp_server().ok_or(DhcpError::NoTftpServer)?,
        })
    }

    async fn ask(
        &self,
        msg: &v4::Message,
        mac: Mac,
        rx: &mut mpsc::UnboundedReceiver<Reply>,
        want: u8,
        name: &'static str,
    ) -> Result<Reply, DhcpError> {
        let bytes = msg
            .to_vec()
            .map_err(|e| DhcpError::Malformed(e.to_string()))?;
        let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
        for _ in 0..self.tries {
            let _ = self.sock.send_to(&bytes, to).await;
            let deadline = tokio::time::Instant::now() + self.retransmit;
            while let Ok(Some(reply)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                if reply.chaddr != mac.0 {
                    continue;
                }
                if reply.kind == 6 {
                    return Err(DhcpError::Nak);
                }
                if reply.kind == want {
                    return Ok(reply);
                }
            }
        }
        Err(DhcpError::NoReply(name, self.tries))
    }
}

async fn demux(sock: Arc<UdpSocket>, waiters: Waiters) {
    let mut buf = vec![0u8; 1500];
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Some(Ok(reply)) = buf.get(..n).map(Reply::parse) else {
            continue;
        };
        let tx = waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&reply.xid)
            .cloned();
        if let Some(tx) = tx {
            let _ = tx.send(reply);
        }
    }
}

/// An address added to an interface with `ip addr add`, removed on drop.
#[derive(Debug)]
pub struct AddrGuard {
    iface: String,
    cidr: String,
}

impl AddrGuard {
    /// Adds `addr/prefix` to `iface`.
    pub fn add(iface: &str, addr: Ipv4Addr, prefix: u8) -> Result<AddrGuard, DhcpError> {
        let cidr = format!("{addr}/{prefix}");
        let out = std::process::Command::new("ip")
            .args(["addr", "add", &cidr, "dev", iface])
            .output()
            .map_err(|e| DhcpError::AddAddress {
                addr: cidr.clone(),
                iface: iface.to_owned(),
                reason: format!("cannot run ip: {e}"),
            })?;
        if !out.status.success() {
            return Err(DhcpError::AddAddress {
                addr: cidr,
                iface: iface.to_owned(),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(AddrGuard {
            iface: iface.to_owned(),
            cidr,
        })
    }
}

impl Drop for AddrGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["addr", "del", &self.cidr, "dev", &self.iface])
            .output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x00, 0x1e, 0x4a, 0x12, 0x34, 0x56]);

    #[test]
    fn discover_looks_like_a_7960() {
        let bytes = discover(MAC, 0xdead_beef, Model::Cp7960).to_vec().unwrap();
        let m = v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.xid(), 0xdead_beef);
        assert_eq!(m.chaddr(), &MAC.0);
        assert!(m.flags().broadcast());
        let opts = m.opts();
        assert_eq!(
            opts.get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(
                b"Cisco Systems, Inc. IP Phone CP-7960G\0".to_vec()
            ))
        );
        let Some(DhcpOption::ParameterRequestList(list)) =
            opts.get(OptionCode::ParameterRequestList)
        else {
            panic!("no option 55");
        };
        let codes: Vec<u8> = list.iter().map(|c| u8::from(*c)).collect();
        assert_eq!(codes, [1, 66, 6, 3, 15, 150, 35]);
        assert_eq!(
            opts.get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(vec![
                1, 0x00, 0x1e, 0x4a, 0x12, 0x34, 0x56
            ]))
        );
        assert_eq!(
            opts.get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname("SEP001E4A123456".into()))
        );
        // The model the server sees is the one we simulate.
        let Some(DhcpOption::ClassIdentifier(vci)) = opts.get(OptionCode::ClassIdentifier) else {
            panic!()
        };
        assert_eq!(Model::from_vendor_class(vci), Some(Model::Cp7960));
    }

    #[test]
    fn request_names_offer_and_server() {
        let bytes = request(
            MAC,
            7,
            Model::Cp7941,
            [10, 0, 0, 5].into(),
            [10, 0, 0, 1].into(),
        )
        .to_vec()
        .unwrap();
        let m = v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(
            m.opts().get(OptionCode::MessageType),
            Some(&DhcpOption::MessageType(MessageType::Request))
        );
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress([10, 0, 0, 5].into()))
        );
        assert_eq!(
            m.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier([10, 0, 0, 1].into()))
        );
        assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    }

    /// A server reply built with dhcproto, then options appended raw.
    fn reply(kind: MessageType, extra: &[(u8, &[u8])]) -> Vec<u8> {
        let mut m = v4::Message::default();
        m.set_opcode(v4::Opcode::BootReply)
            .set_xid(42)
            .set_chaddr(&MAC.0)
            .set_yiaddr([10, 0, 0, 5]);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut()
            .insert(DhcpOption::ServerIdentifier([10, 0, 0, 1].into()));
        m.opts_mut()
            .insert(DhcpOption::SubnetMask([255, 255, 255, 0].into()));
        let mut bytes = m.to_vec().unwrap();
        assert_eq!(bytes.pop(), Some(255), "dhcproto ends with the end option");
        for (code, value) in extra {
            bytes.push(*code);
            bytes.push(value.len() as u8);
            bytes.extend_from_slice(value);
        }
        bytes.push(255);
        bytes
    }

    #[test]
    fn option_150_list_wins_over_66() {
        let b = reply(
            MessageType::Ack,
            &[(150, &[10, 0, 0, 9, 10, 0, 0, 8]), (66, b"10.0.0.7\0")],
        );
        let r = Reply::parse(&b).unwrap();
        assert_eq!((r.kind, r.xid, r.chaddr), (5, 42, MAC.0));
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.prefix, Some(24));
        assert_eq!(
            r.tftp_servers,
            [Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 8)]
        );
        assert_eq!(r.tftp_name.as_deref(), Some("10.0.0.7"));
        assert_eq!(r.tftp_server(), Some(Ipv4Addr::new(10, 0, 0, 9)));
    }

    #[test]
    fn option_66_alone_and_neither() {
        let r = Reply::parse(&reply(MessageType::Offer, &[(66, b"10.0.0.7")])).unwrap();
        assert_eq!(r.kind, 2);
        assert_eq!(r.tftp_server(), Some(Ipv4Addr::new(10, 0, 0, 7)));
        // A host name in 66 is no use to a phone.
        let r = Reply::parse(&reply(MessageType::Offer, &[(66, b"tftp.example")])).unwrap();
        assert_eq!(r.tftp_server(), None);
        let r = Reply::parse(&reply(MessageType::Offer, &[])).unwrap();
        assert_eq!(r.tftp_server(), None);
    }

    #[test]
    fn hostile_replies_are_errors_not_panics() {
        let good = reply(MessageType::Ack, &[(150, &[10, 0, 0, 9])]);
        for cut in [0, 10, 236, 239, 241, good.len() - 3] {
            let _ = Reply::parse(&good[..cut]);
        }
        let mut truncated = good[..good.len() - 1].to_vec();
        truncated.extend_from_slice(&[150, 200, 1]);
        assert!(Reply::parse(&truncated).is_err());
        // A request is not a reply.
        let req = discover(MAC, 1, Model::Cp7960).to_vec().unwrap();
        assert!(Reply::parse(&req).is_err());
    }
}
