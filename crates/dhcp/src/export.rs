//! Option 150 written the way other DHCP servers want it, for
//! `phoneboot dhcp-option 150 IP [IP…]`: people who keep their own DHCP
//! server still need the value, and each server spells it differently.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// One rendering of the option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionFormat {
    /// Short name of the target, e.g. `"dnsmasq"`.
    pub name: &'static str,
    /// What to paste.
    pub text: String,
}

fn joined(ips: &[Ipv4Addr], sep: &str) -> String {
    ips.iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

/// The wire value: every address's four bytes in network order, as hex.
pub fn option150_hex(ips: &[Ipv4Addr]) -> String {
    ips.iter()
        .flat_map(|ip| ip.octets())
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// tftpd32 reads the value as a little-endian 32-bit number, so each address
/// is written byte-swapped: 192.168.1.1 → `0x0101A8C0` (the seed's value).
pub fn option150_tftpd32(ip: Ipv4Addr) -> String {
    format!("0x{:08X}", u32::from_le_bytes(ip.octets()))
}

/// Every format at once, in a fixed order.
pub fn option150_formats(ips: &[Ipv4Addr]) -> Vec<OptionFormat> {
    let list = joined(ips, ", ");
    let hex = option150_hex(ips);
    vec![
        OptionFormat {
            name: "hex",
            text: hex.clone(),
        },
        OptionFormat {
            name: "tftpd32",
            text: ips
                .iter()
                .map(|ip| option150_tftpd32(*ip))
                .collect::<Vec<_>>()
                .join(" "),
        },
        OptionFormat {
            name: "isc-dhcpd",
            text: format!(
                "option tftp-server-address code 150 = array of ip-address;\n\
                 option tftp-server-address {list};"
            ),
        },
        OptionFormat {
            name: "kea",
            // Kea has no built-in definition for 150, hence the option-def.
            text: format!(
                "{{ \"Dhcp4\": {{\n  \"option-def\": [ {{ \"name\": \"tftp-server-address\", \
                 \"code\": 150, \"space\": \"dhcp4\", \"type\": \"ipv4-address\", \
                 \"array\": true }} ],\n  \"option-data\": [ {{ \"name\": \"tftp-server-address\", \
                 \"code\": 150, \"space\": \"dhcp4\", \"always-send\": true, \
                 \"data\": \"{list}\" }} ]\n}} }}"
            ),
        },
        OptionFormat {
            name: "dnsmasq",
            text: format!("dhcp-option-force=150,{}", joined(ips, ",")),
        },
        OptionFormat {
            name: "cisco-ios",
            text: format!("option 150 ip {}", joined(ips, " ")),
        },
        OptionFormat {
            name: "mikrotik",
            text: format!("/ip dhcp-server option add code=150 name=tftp150 value=0x{hex}"),
        },
    ]
}
