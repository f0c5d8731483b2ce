//! SCCP protocol versions: which ones the core speaks, how one is agreed
//! with a phone, and which server messages each version knows.
//!
//! A phone states the highest version it speaks in its Register (byte 40).
//! The server answers with `min(phone, ours)` taken down to a version it
//! implements, and from then on must never send a message that version
//! does not define: phones show "Invalid SCCP message" and reset when they
//! get one.
//!
//! The implemented set is chan-sccp's ({3, 5, 8, 9, 10, 11, 15..=22}), so
//! every answer we give is one phones already get from a deployed server.
//! Everything this core sends (registration and reset messages) has the
//! same layout in all of them (Wireshark's SkinnyProtocolOptimized.xml
//! gives these messages fields from version 0 to 22); only RegisterAck's
//! feature bytes and the header version field change with the version.

use crate::wire::MessageId;

/// A protocol version the core implements. Construct with
/// [`ProtocolVersion::new`] or [`ProtocolVersion::negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion(u8);

impl ProtocolVersion {
    pub const V3: ProtocolVersion = ProtocolVersion(3);
    pub const V5: ProtocolVersion = ProtocolVersion(5);
    pub const V8: ProtocolVersion = ProtocolVersion(8);
    pub const V9: ProtocolVersion = ProtocolVersion(9);
    pub const V10: ProtocolVersion = ProtocolVersion(10);
    pub const V11: ProtocolVersion = ProtocolVersion(11);
    pub const V15: ProtocolVersion = ProtocolVersion(15);
    pub const V16: ProtocolVersion = ProtocolVersion(16);
    /// The highest version seen from real phones (7941 on 8.5.3, 7906 on
    /// SCCP11 8.4.2), and the default ceiling.
    pub const V17: ProtocolVersion = ProtocolVersion(17);
    pub const V22: ProtocolVersion = ProtocolVersion(22);

    /// Every implemented version, ascending.
    pub const IMPLEMENTED: [ProtocolVersion; 14] = [
        ProtocolVersion(3),
        ProtocolVersion(5),
        ProtocolVersion(8),
        ProtocolVersion(9),
        ProtocolVersion(10),
        ProtocolVersion(11),
        ProtocolVersion(15),
        ProtocolVersion(16),
        ProtocolVersion(17),
        ProtocolVersion(18),
        ProtocolVersion(19),
        ProtocolVersion(20),
        ProtocolVersion(21),
        ProtocolVersion(22),
    ];

    /// The lowest implemented version; also what is assumed before a
    /// Register has been accepted.
    pub const LOWEST: ProtocolVersion = ProtocolVersion(3);

    /// `Some` only for an implemented version.
    pub fn new(version: u8) -> Option<ProtocolVersion> {
        Self::IMPLEMENTED.iter().copied().find(|v| v.0 == version)
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// `min(phone_max, ours)` taken down to an implemented version. A phone
    /// claiming less than 3 still gets 3: every message we send exists in
    /// the base protocol, and no lower version is defined anywhere.
    pub fn negotiate(phone_max: u8, ours: ProtocolVersion) -> ProtocolVersion {
        let target = phone_max.min(ours.0);
        Self::IMPLEMENTED
            .iter()
            .copied()
            .rev()
            .find(|v| v.0 <= target)
            .unwrap_or(Self::LOWEST)
    }

    /// The three bytes after the version in RegisterAck (chan-sccp's V3, V4
    /// and V11 acks): the phone reads them as the server's features.
    pub fn register_ack_features(self) -> [u8; 3] {
        match self.0 {
            0..=4 => [0x00, 0x00, 0x00],
            5..=10 => [0x20, 0xf1, 0xfe],
            _ => [0x20, 0xf1, 0xff],
        }
    }

    /// The header version field for a server message: 0 for KeepAliveAck,
    /// RegisterAck and UnregisterAck, and for everything when the version
    /// is below 10; the version itself otherwise (chan-sccp's rule).
    pub fn header_version(self, id: MessageId) -> u32 {
        match id {
            MessageId::KeepAliveAck | MessageId::RegisterAck | MessageId::UnregisterAck => 0,
            _ if self.0 < 10 => 0,
            _ => u32::from(self.0),
        }
    }

    /// Whether a phone speaking this version knows server message `id`.
    pub fn knows(self, id: MessageId) -> bool {
        min_version(id).is_some_and(|min| min <= self)
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The server messages the core may send.
pub const SENDABLE: [MessageId; 6] = [
    MessageId::KeepAliveAck,
    MessageId::RegisterAck,
    MessageId::CapabilitiesReq,
    MessageId::RegisterReject,
    MessageId::Reset,
    MessageId::UnregisterAck,
];

/// The lowest protocol version that defines server message `id`, or `None`
/// for ids the core never sends. A new server message must be added here
/// with its version before the session can send it.
pub fn min_version(id: MessageId) -> Option<ProtocolVersion> {
    match id {
        // Base registration and management messages: present with the same
        // fields in every version Wireshark describes (0..=22).
        MessageId::KeepAliveAck
        | MessageId::RegisterAck
        | MessageId::CapabilitiesReq
        | MessageId::RegisterReject
        | MessageId::Reset
        | MessageId::UnregisterAck => Some(ProtocolVersion::LOWEST),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_table() {
        let v = |n| ProtocolVersion::new(n).unwrap();
        let cases: &[(u8, ProtocolVersion, ProtocolVersion)] = &[
            (0, ProtocolVersion::V17, v(3)),
            (2, ProtocolVersion::V17, v(3)),
            (3, ProtocolVersion::V17, v(3)),
            (4, ProtocolVersion::V17, v(3)),
            (5, ProtocolVersion::V17, v(5)),
            (7, ProtocolVersion::V17, v(5)),
            (8, ProtocolVersion::V17, v(8)),
            (11, ProtocolVersion::V17, v(11)),
            (12, ProtocolVersion::V17, v(11)),
            (14, ProtocolVersion::V17, v(11)),
            (15, ProtocolVersion::V17, v(15)),
            (17, ProtocolVersion::V17, v(17)),
            (20, ProtocolVersion::V17, v(17)),
            (255, ProtocolVersion::V17, v(17)),
            (255, ProtocolVersion::V22, v(22)),
            (17, ProtocolVersion::V11, v(11)),
            (17, ProtocolVersion::V3, v(3)),
        ];
        for &(phone, ours, want) in cases {
            assert_eq!(
                ProtocolVersion::negotiate(phone, ours),
                want,
                "phone {phone}, ours {ours}"
            );
        }
    }

    #[test]
    fn negotiation_never_exceeds_either_side_above_the_floor() {
        for ours in ProtocolVersion::IMPLEMENTED {
            for phone in 0..=255u8 {
                let got = ProtocolVersion::negotiate(phone, ours);
                assert!(ProtocolVersion::new(got.get()).is_some());
                assert!(got <= ours);
                assert!(got.get() <= phone.max(3));
                // No implemented version is skipped on the way down.
                let best = ProtocolVersion::IMPLEMENTED
                    .iter()
                    .filter(|v| v.get() <= phone.min(ours.get()))
                    .max()
                    .copied()
                    .unwrap_or(ProtocolVersion::LOWEST);
                assert_eq!(got, best);
            }
        }
    }

    #[test]
    fn only_implemented_versions_construct() {
        for n in 0..=255u8 {
            let implemented = matches!(n, 3 | 5 | 8 | 9 | 10 | 11 | 15..=22);
            assert_eq!(ProtocolVersion::new(n).is_some(), implemented, "{n}");
        }
    }

    #[test]
    fn feature_bytes_and_header_versions() {
        let v = |n| ProtocolVersion::new(n).unwrap();
        assert_eq!(v(3).register_ack_features(), [0, 0, 0]);
        for n in [5, 8, 9, 10] {
            assert_eq!(v(n).register_ack_features(), [0x20, 0xf1, 0xfe]);
        }
        for n in [11, 15, 17, 22] {
            assert_eq!(v(n).register_ack_features(), [0x20, 0xf1, 0xff]);
        }
        for version in ProtocolVersion::IMPLEMENTED {
            for id in SENDABLE {
                let h = version.header_version(id);
                let always_zero = matches!(
                    id,
                    MessageId::KeepAliveAck | MessageId::RegisterAck | MessageId::UnregisterAck
                );
                if always_zero || version.get() < 10 {
                    assert_eq!(h, 0, "{id:?} at {version}");
                } else {
                    assert_eq!(h, u32::from(version.get()), "{id:?} at {version}");
                }
            }
        }
    }

    #[test]
    fn only_sendable_ids_have_a_minimum_version() {
        for raw in 0..=0x1ffu32 {
            let id = MessageId::from(raw);
            assert_eq!(min_version(id).is_some(), SENDABLE.contains(&id), "{id:?}");
        }
        for id in SENDABLE {
            assert_eq!(id.direction(), Some(crate::wire::Direction::ServerToPhone));
            for version in ProtocolVersion::IMPLEMENTED {
                assert!(version.knows(id));
            }
        }
    }
}
