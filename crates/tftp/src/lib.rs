//! tftp (placeholder)
#![forbid(unsafe_code)]
