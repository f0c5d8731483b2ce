//! cisco (placeholder)
#![forbid(unsafe_code)]
