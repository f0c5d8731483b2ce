//! Provisioning: what each phone should run and be told (the desired
//! state), the engine that walks it there, and the resolver that turns a
//! file request into the file.

pub mod control;
pub mod desired;
pub mod engine;
pub mod resolver;
pub mod served;

pub use control::{ControlError, NotifyKind, NotifyOrder, PhoneControl};
pub use engine::Engine;
pub use resolver::Resolver;
pub use served::{GeneratedSource, ResolveError, Resolved};
