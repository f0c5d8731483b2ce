//! Drivers: every socket phones talk to, around the sans-IO cores.

pub mod dhcp;
pub mod listener;
pub mod phone_http;
pub mod sccp;
pub mod sip_notify;
pub mod sntp;
pub mod syslog;
pub mod tftp;
pub mod transfers;
