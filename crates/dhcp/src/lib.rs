//! dhcp (placeholder)
#![forbid(unsafe_code)]
