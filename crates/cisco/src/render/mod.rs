//! The configs phoneboot generates for phones, as strings.
//!
//! Pure: every function takes the desired state ([`Site`](crate::Site),
//! [`PhoneSettings`](crate::PhoneSettings), load names) and returns the
//! file's text; none reads files or the clock, so the same input always
//! gives the same bytes and a server can serve, cache or diff them.
//!
//! - XML ([`xml_default`], [`sep_cnf_xml`], [`dialplan_xml`]) is written with
//!   quick-xml, which escapes every value; nothing user-supplied is pasted
//!   into markup.
//! - 79x0 SIP text ([`sip_default_cnf`], [`sip_mac_cnf`]) is `name: "value"`
//!   lines. A value cannot contain `"` or a line break there, so config
//!   validation rejects such values with [`text_value_ok`], and the renderer
//!   still replaces what slips through so no value can start a new key.
//! - [`GeneratedFile::parse`] tells which of these a TFTP/HTTP request names.
//!
//! Generated files carry SIP passwords in clear text, readable by anyone who
//! can reach TFTP: [`GeneratedFile::carries_secrets`] marks them so the server
//! can serve them only to the phone that owns the MAC.
//!
//! ```
//! use cisco::render::{self, GeneratedFile};
//! use cisco::{LoadName, Mac, Model, PhoneSettings, Protocol, SipLine, Site, Transport};
//!
//! let site = Site {
//!     sip_server: "192.168.1.10".into(),
//!     sip_port: 5060,
//!     transport: Transport::Udp,
//!     sccp_server: None,
//!     time_zone: "Europe/London".into(),
//!     ntp_server: Some("192.168.1.1".into()),
//!     syslog_server: None,
//!     user_locale: None,
//!     network_locale: None,
//! };
//! let phone = PhoneSettings {
//!     mac: "00:1e:4a:12:34:56".parse()?,
//!     model: Some(Model::Cp7965),
//!     protocol: Protocol::Sip,
//!     label: Some("Reception".into()),
//!     lines: vec![SipLine {
//!         extension: "101".into(),
//!         display: "Reception".into(),
//!         auth: "101".into(),
//!         password: "s3cret".into(),
//!         label: None,
//!     }],
//!     speed_dials: vec![],
//!     sccp_server: None,
//! };
//! let load = LoadName::parse("SIP45.9-4-2SR3-1S")?;
//! let xml = render::sep_cnf_xml(&site, &phone, Model::Cp7965, Some(&load));
//! assert!(xml.contains("<loadInformation>SIP45.9-4-2SR3-1S</loadInformation>"));
//!
//! let file = GeneratedFile::parse("/sep001e4a123456.CNF.XML").unwrap();
//! assert_eq!(file, GeneratedFile::SepCnfXml(phone.mac));
//! assert!(file.carries_secrets());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod text;
mod tz;
mod xml;

use std::fmt;

use crate::{Mac, RequestedFile};

pub use text::{
    os79xx_txt, ringlist_dat, sip_default_cnf, sip_mac_cnf, sync_of, sync_stamp, syncinfo_xml,
};
pub use xml::{dialplan_xml, sep_cnf_xml, xml_default};

/// Whether `value` can go into any generated config unchanged: no `"`
/// (it would end a 79x0 text value), no control characters (CR/LF would
/// start a new key; XML 1.0 forbids most others) and no Unicode line or
/// paragraph separators. Config validation uses this so that the renderer
/// never has to alter a value.
pub fn text_value_ok(value: &str) -> bool {
    value.chars().all(|c| c != '"' && char_ok(c))
}

/// Whether phoneboot knows how Cisco phones spell this Olson zone. Unknown
/// zones render as UTC without daylight saving; validation can warn.
pub fn time_zone_known(olson: &str) -> bool {
    tz::lookup(olson).is_some()
}

fn char_ok(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}')
}

/// A value as it may appear in XML text: characters [`text_value_ok`]
/// rejects (other than `"`, which XML escapes) become `?`.
fn xml_clean(value: &str) -> String {
    value
        .chars()
        .map(|c| if char_ok(c) { c } else { '?' })
        .collect()
}

/// A generated config a phone can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GeneratedFile {
    /// `XMLDefault.cnf.xml`: for phones without a per-MAC file.
    XmlDefault,
    /// `SEP<MAC>.cnf.xml`.
    SepCnfXml(Mac),
    /// `SIPDefault.cnf` (79x0 SIP).
    SipDefaultCnf,
    /// `SIP<MAC>.cnf` (79x0 SIP).
    SipMacCnf(Mac),
    /// `OS79XX.TXT` (old 79x0 loads).
    Os79xxTxt,
    /// `RINGLIST.DAT` (79x0 SIP).
    RingListDat,
    /// `dialplan.xml` (SIP dial template).
    DialplanXml,
    /// `syncinfo.xml` (79x0 SIP): rendered per requesting phone, with the
    /// SYNC of the config it would get now.
    SyncinfoXml,
}

impl GeneratedFile {
    /// Which generated config `requested_name` names, matched without regard
    /// to case and with one leading `/` allowed (HTTP paths). Names in
    /// sub-folders, signed or encrypted variants (`.sgn`, `.enc.sgn`) and
    /// trust lists (`CTLSEP…tlv`) are not generated: `None`. The name itself
    /// is read by [`RequestedFile::parse`].
    pub fn parse(requested_name: &str) -> Option<GeneratedFile> {
        let name = requested_name.strip_prefix('/').unwrap_or(requested_name);
        if name.contains('/') {
            return None;
        }
        RequestedFile::parse(name).generated()
    }

    /// The canonical file name (`SEP001E4A123456.cnf.xml`).
    pub fn file_name(&self) -> String {
        match self {
            GeneratedFile::XmlDefault => "XMLDefault.cnf.xml".to_owned(),
            GeneratedFile::SepCnfXml(mac) => format!("SEP{}.cnf.xml", mac.file_form()),
            GeneratedFile::SipDefaultCnf => "SIPDefault.cnf".to_owned(),
            GeneratedFile::SipMacCnf(mac) => format!("SIP{}.cnf", mac.file_form()),
            GeneratedFile::Os79xxTxt => "OS79XX.TXT".to_owned(),
            GeneratedFile::RingListDat => "RINGLIST.DAT".to_owned(),
            GeneratedFile::DialplanXml => "dialplan.xml".to_owned(),
            GeneratedFile::SyncinfoXml => "syncinfo.xml".to_owned(),
        }
    }

    /// The phone the file is for, when it is per-MAC.
    pub fn mac(&self) -> Option<Mac> {
        match self {
            GeneratedFile::SepCnfXml(mac) | GeneratedFile::SipMacCnf(mac) => Some(*mac),
            _ => None,
        }
    }

    /// True for the per-MAC files, which hold SIP passwords (a Java phone's
    /// `SEP<MAC>.cnf.xml` has its `sipProfile`; wazo flags the same file as
    /// sensitive). Serve these only to the IP leased to that MAC.
    pub fn carries_secrets(&self) -> bool {
        self.mac().is_some()
    }
}

impl fmt::Display for GeneratedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

#[cfg(test)]
mod tests;
