//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`);
//! `cargo test` runs them over mutated seeds.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::config::{dhcp_core, Config, StoreLocation};
use crate::net::dhcp::Interface;

/// The config file as an operator writes it: any bytes either parse into a
/// validated [`Config`] or give an error naming the file; a PostgreSQL
/// password never shows in what is printed of a config; the DHCP settings
/// build a server core on a typical interface or say why not.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let cfg = match Config::parse_str(&text, "fuzz.toml") {
        Ok(cfg) => cfg,
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.toml: "), "{message}");
            assert!(message.len() > "fuzz.toml: ".len(), "an empty error");
            return;
        }
    };
    let again = Config::parse_str(&text, "fuzz.toml").expect("the same text parses twice");
    let shown = format!("{cfg:?}");
    assert_eq!(shown, format!("{again:?}"), "parsing is not deterministic");
    if let StoreLocation::Postgres(url) = &cfg.store {
        if let Some(password) = password_of(url) {
            let leak = format!(":{password}@");
            let described = cfg.store.describe(Path::new("/nonexistent"));
            assert!(
                !described.contains(&leak),
                "describe shows the password: {url:?} -> {described:?}"
            );
            assert!(!shown.contains(&leak), "Debug shows the password");
        }
    }
    let iface = Interface {
        name: "eth0".into(),
        index: 2,
        addr: Ipv4Addr::new(192, 168, 1, 1),
        prefix_len: 24,
    };
    if let Err(e) = dhcp_core(&cfg.dhcp, &iface) {
        assert!(!e.to_string().is_empty());
    }
}

/// The password of `scheme://user:password@host…`, when there is one.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty() && password != "***").then_some(password)
}

#[cfg(test)]
mod tests {
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Byte edits, and TOML's punctuation spliced in where its rules live.
    fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..(1 + rng.next() % 3) {
            let pos = (rng.next() as usize) % (data.len() + 1);
            match rng.next() % 4 {
                0 => data.insert(pos, rng.next() as u8),
                1 if pos < data.len() => {
                    data.remove(pos);
                }
                2 => {
                    let bits: [&[u8]; 12] = [
                        b"\n", b"=", b"\"", b"[", b"]", b"[[", b".", b"-", b"/", b"0", b"::",
                        b"\"\"\"",
                    ];
                    let bit = bits[(rng.next() as usize) % bits.len()];
                    data.splice(pos..pos, bit.iter().copied());
                }
                _ if pos < data.len() => data[pos] = rng.next() as u8,
                _ => {}
            }
        }
        data
    }

    fn seeds() -> Vec<&'static [u8]> {
        vec![
            include_bytes!("../../../examples/phoneboot.toml"),
            b"[store]\nurl = \"postgresql://phoneboot:s3cret-pass@db.example:5432/phoneboot\"\n\
              [ha]\nname = \"a\"\ntakeover_after = \"3s\"\n",
            b"[dhcp]\ndns = [\"10.0.0.53\"]\nconflict_check = false\n\
              [[dhcp.relay_subnet]]\nsubnet = \"10.20.0.0/24\"\npool = [\"10.20.0.10-10.20.0.99\"]\nrouter = \"10.20.0.1\"\n\
              [[dhcp.model_option]]\nmodel = \"CP-7960G\"\ncode = 150\ntype = \"ips\"\nvalue = [\"10.0.0.7\"]\n",
            b"[tftp]\nthreads = 2\ncache_bytes = 1048576\nmax_transfers = 10\n\
              [provision]\nreboot = \"manual\"\nroot_files = \"generated\"\n\
              [sccp]\nallow = [\"10.0.0.0/8\"]\n",
        ]
    }

    #[test]
    fn config_entry_never_panics() {
        let seeds = seeds();
        for seed in &seeds {
            assert!(
                crate::config::Config::parse_str(&String::from_utf8_lossy(seed), "s").is_ok(),
                "a seed must parse: {}",
                String::from_utf8_lossy(seed)
            );
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let (mut parsed, mut refused) = (0, 0);
        for i in 0..4_000usize {
            let data = if i % 11 == 0 {
                (0..(rng.next() % 120)).map(|_| rng.next() as u8).collect()
            } else {
                mutate(&mut rng, seeds[i % seeds.len()])
            };
            match crate::config::Config::parse_str(&String::from_utf8_lossy(&data), "t") {
                Ok(_) => parsed += 1,
                Err(_) => refused += 1,
            }
            super::config(&data);
        }
        // Both sides of every check are reached.
        assert!(
            parsed > 400 && refused > 400,
            "parsed {parsed}, refused {refused}"
        );
    }

    #[test]
    fn a_password_is_found_where_it_would_leak() {
        assert_eq!(super::password_of("postgresql://u:pw@h:5432/d"), Some("pw"));
        assert_eq!(super::password_of("postgresql://u@h/d"), None);
        assert_eq!(super::password_of("postgresql://u:***@h/d"), None);
    }
}
