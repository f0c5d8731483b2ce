//! A settled phone's line to its server, where reboot orders come from: an
//! SCCP registration ([`crate::sccp_client`]) or a SIP port answering
//! NOTIFY ([`crate::sip_listener`]).
//!
//! The phone talks to it through the [`Control`] trait, so its decisions
//! are tested against a script as well as over real sockets
//! ([`NetControl`]), as its boots are through [`crate::Fetcher`].

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sccp_client::{self, Registration, SccpClient};
use crate::sip_listener::{self, Responder, SipStack};

/// What a settled phone listens to, decided by the phone from its load and
/// the config it booted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Nothing: an SCCP load whose config named no call manager just sits.
    None,
    /// Register with the call manager at this address.
    Sccp {
        call_manager: SocketAddrV4,
        registration: Registration,
    },
    /// Answer NOTIFY on this UDP port of the phone's address.
    Sip {
        port: u16,
        stack: SipStack,
        /// The line-1 name NOTIFYs must address; `None` accepts any.
        line1: Option<String>,
        /// To tag of the phone's answers.
        tag: String,
    },
}

/// Something the phone heard on its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Sccp(sccp_client::Event),
    Notify(sip_listener::Heard),
}

/// A channel could not be opened; the phone fails with this text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error(
        "cannot listen for NOTIFY on {addr}: {source} (give another --sip-port, or free the port)"
    )]
    SipBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Where a settled phone hears its server.
pub trait Control: Send {
    /// Opens `channel`, closing any channel still open.
    fn open(&mut self, channel: Channel) -> impl Future<Output = Result<(), ControlError>> + Send;
    /// The next thing heard. Cancel-safe (nothing is lost when the future
    /// is dropped); pending for ever when nothing more can come.
    fn next(&mut self) -> impl Future<Output = Heard> + Send;
    /// Closes the channel; returns once its socket is released, so the
    /// next boot can bind the same SIP port. Gives back what was heard but
    /// not yet taken with `next` (a NOTIFY answered while the phone was
    /// already acting on another), which the phone counts and ignores.
    fn close(&mut self) -> impl Future<Output = Vec<Heard>> + Send;
}

enum Receiver {
    Sccp(mpsc::UnboundedReceiver<sccp_client::Event>),
    Sip(mpsc::UnboundedReceiver<sip_listener::Heard>),
}

/// The real channels, from the phone's own address.
pub struct NetControl {
    ip: IpAddr,
    rx: Option<Receiver>,
    task: Option<JoinHandle<()>>,
}

impl NetControl {
    /// Channels that bind `ip`, the phone's address.
    pub fn new(ip: IpAddr) -> NetControl {
        NetControl {
            ip,
            rx: None,
            task: None,
        }
    }
}

impl Drop for NetControl {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Control for NetControl {
    async fn open(&mut self, channel: Channel) -> Result<(), ControlError> {
        let _ = self.close().await;
        match channel {
            Channel::None => {}
            Channel::Sccp {
                call_manager,
                registration,
            } => {
                let bind = match self.ip {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                };
                let (tx, rx) = mpsc::unbounded_channel();
                let client = SccpClient::new(registration);
                self.task = Some(tokio::spawn(sccp_client::drive(
                    client,
                    bind,
                    call_manager,
                    tx,
                )));
                self.rx = Some(Receiver::Sccp(rx));
            }
            Channel::Sip {
                port,
                stack,
                line1,
                tag,
            } => {
                let addr = SocketAddr::new(self.ip, port);
                let socket = tokio::net::UdpSocket::bind(addr)
                    .await
                    .map_err(|source| ControlError::SipBind { addr, source })?;
                let (tx, rx) = mpsc::unbounded_channel();
                let responder = Responder::new(stack, line1, tag);
                self.task = Some(tokio::spawn(sip_listener::serve(socket, responder, tx)));
                self.rx = Some(Receiver::Sip(rx));
            }
        }
        Ok(())
    }

    async fn next(&mut self) -> Heard {
        let heard = match &mut self.rx {
            Some(Receiver::Sccp(rx)) => rx.recv().await.map(Heard::Sccp),
            Some(Receiver::Sip(rx)) => rx.recv().await.map(Heard::Notify),
            None => None,
        };
        match heard {
            Some(h) => h,
            // The task ended (after a Reset): nothing more will come.
            None => std::future::pending().await,
        }
    }

    async fn close(&mut self) -> Vec<Heard> {
        if let Some(t) = self.task.take() {
            t.abort();
            // Aborted tasks drop their socket when they finish; wait for it.
            let _ = t.await;
        }
        let mut left = Vec::new();
        match self.rx.take() {
            Some(Receiver::Sccp(mut rx)) => {
                while let Ok(e) = rx.try_recv() {
                    left.push(Heard::Sccp(e));
                }
            }
            Some(Receiver::Sip(mut rx)) => {
                while let Ok(h) = rx.try_recv() {
                    left.push(Heard::Notify(h));
                }
            }
            None => {}
        }
        left
    }
}
