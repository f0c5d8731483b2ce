//! How the engine reaches a phone between boots. A phone reads its config
//! only when it boots, so moving it to its next hop (or making it take a
//! changed config) means telling it to reboot: SCCP `Reset` over its
//! session with phoneboot, or a SIP NOTIFY. The SCCP and NOTIFY drivers
//! implement [`PhoneControl`]; what happened comes back as events
//! (`sccp_reset`, `sip_notify`), which the engine follows.

use std::net::SocketAddr;

use cisco::Mac;

/// A NOTIFY for one SIP phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOrder {
    pub mac: Mac,
    /// The phone's leased address and SIP port.
    pub phone: SocketAddr,
    /// `check-sync` (79x0) or `service-control` reset (Java SIP loads).
    pub kind: NotifyKind,
    /// The Request-URI user: the phone's line-1 name.
    pub user: String,
    /// Why, for the event.
    pub cause: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    CheckSync,
    ServiceControlReset,
}

impl NotifyKind {
    /// The NOTIFY's `Event` header.
    pub fn event(self) -> &'static str {
        match self {
            NotifyKind::CheckSync => "check-sync",
            NotifyKind::ServiceControlReset => "service-control",
        }
    }
}

/// Why an order did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0} is not registered with phoneboot over SCCP")]
    NoSession(Mac),
    #[error("phoneboot's SCCP listener is off: set [sccp] enabled = true")]
    SccpOff,
    #[error("phoneboot's NOTIFY sender is off: set [sip] notify = true")]
    NotifyOff,
    #[error("the NOTIFY queue is full; try again")]
    Busy,
}

/// The drivers that reach phones between boots. Orders are queued, never
/// waited for: each driver reports the outcome as an event.
pub trait PhoneControl: Send + Sync {
    /// Sends `Reset` type 1 (a full reboot: DHCP, TFTP, new `loadInformation`).
    fn sccp_reset(&self, mac: Mac, cause: &str) -> Result<(), ControlError>;
    /// Sends a NOTIFY.
    fn sip_notify(&self, order: NotifyOrder) -> Result<(), ControlError>;
}

/// No driver: every order fails (tests, and `serve` before the drivers start).
#[derive(Debug, Default)]
pub struct NoControl;

impl PhoneControl for NoControl {
    fn sccp_reset(&self, _mac: Mac, _cause: &str) -> Result<(), ControlError> {
        Err(ControlError::SccpOff)
    }

    fn sip_notify(&self, _order: NotifyOrder) -> Result<(), ControlError> {
        Err(ControlError::NotifyOff)
    }
}
