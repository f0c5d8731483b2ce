//! The generated configs: the engine as a source the resolver asks, in
//! front of the library and the root.

use std::net::IpAddr;

use bytes::Bytes;
use cisco::render::{self, GeneratedFile};
use cisco::request::base_name;
use cisco::{operator, Mac, Model, RequestedFile};

use super::Engine;
use std::time::Instant;

use cisco::{AvailableLoad, Protocol};

use crate::provision::served::{GeneratedSource, ResolveError, Resolved};

impl Engine {
    fn render_file(
        &self,
        client: IpAddr,
        name: &str,
        file: &GeneratedFile,
    ) -> Result<Resolved, ResolveError> {
        let text = self.render_text(Some(client), client, file)?;
        if let Some(mac) = file.mac() {
            self.served(mac, file, &text);
        }
        if operator::names_a_load(&RequestedFile::parse(name)) {
            let mut fleet = self.fleet();
            fleet.on_generated_config(Instant::now(), client, name);
            self.drain(fleet);
        }
        Ok(Resolved {
            content: Bytes::from(text),
            source: format!("generated:{}", file.file_name()),
        })
    }

    /// `file` as the phone at `client` gets it now. Per-MAC files with SIP
    /// passwords are checked against `secrets_for` (the requester); `None`
    /// renders them for phoneboot's own comparisons.
    pub(super) fn render_text(
        &self,
        secrets_for: Option<IpAddr>,
        client: IpAddr,
        file: &GeneratedFile,
    ) -> Result<String, ResolveError> {
        if *file == GeneratedFile::SyncinfoXml {
            let stamp = self.sync_for(client).ok_or(ResolveError::NotFound)?;
            return Ok(render::syncinfo_xml(&stamp));
        }
        let fleet = self.fleet();
        let requester = fleet.mac_for_ip(client);
        let text = match file {
            GeneratedFile::XmlDefault => {
                let mut loads = Vec::new();
                let own = requester.and_then(|m| fleet.phone(m));
                for model in Model::ALL {
                    let load = match &own {
                        // The phone's own walk, for its own model.
                        Some(v) if v.model == Some(model) => fleet.serving_load(v.mac),
                        _ => fleet.default_load(model).ok().flatten(),
                    };
                    if let Some(load) = load {
                        loads.push((model, load));
                    }
                }
                match &self.own_sccp {
                    // Phones on XMLDefault are walking: phoneboot is their call manager.
                    Some(own) => {
                        let mut site = self.site.clone();
                        site.sccp_server = Some(own.clone());
                        render::xml_default(&site, &loads)
                    }
                    None => render::xml_default(&self.site, &loads),
                }
            }
            GeneratedFile::SepCnfXml(mac) => {
                let view = fleet.phone(*mac);
                let model = view.as_ref().and_then(|v| v.model);
                let intent = self.desired().intent(*mac, model, self.fallback);
                let Some(model) = intent.settings.model.or(model) else {
                    // Without the model there is no load to name: the phone
                    // falls back to XMLDefault.cnf.xml, which names one per model.
                    return Err(ResolveError::NotFound);
                };
                if let Some(requester) = secrets_for {
                    self.check_secret_access(requester, *mac, !intent.settings.lines.is_empty())?;
                }
                let load = fleet.serving_load(*mac);
                let mut settings = intent.settings;
                // An SCCP stepping stone registers with phoneboot, which
                // resets it into its next hop; so does an SCCP target
                // with no call manager of its own.
                let sccp = load.as_ref().and_then(|l| l.protocol()) == Some(Protocol::Sccp);
                if let (Some(own), true) = (&self.own_sccp, sccp) {
                    let target = view.as_ref().and_then(|v| v.target.clone());
                    let stepping_stone = target.is_some() && target != load;
                    let no_server =
                        settings.sccp_server.is_none() && self.site.sccp_server.is_none();
                    if stepping_stone || no_server {
                        settings.sccp_server = Some(own.clone());
                    }
                }
                render::sep_cnf_xml(&self.site, &settings, model, load.as_ref())
            }
            GeneratedFile::SipDefaultCnf | GeneratedFile::Os79xxTxt => {
                // Per requesting phone; a phone not yet known gets its
                // model's first safe hop.
                let load = match requester {
                    Some(m) => fleet.serving_load(m),
                    None => None,
                }
                .or_else(|| fleet.default_load(Model::Cp7960).ok().flatten());
                let Some(load) = load else {
                    return Err(ResolveError::NotFound);
                };
                if matches!(file, GeneratedFile::Os79xxTxt) {
                    render::os79xx_txt(&load)
                } else {
                    render::sip_default_cnf(&self.site, &load)
                }
            }
            GeneratedFile::SipMacCnf(mac) => {
                let view = fleet.phone(*mac);
                let intent =
                    self.desired()
                        .intent(*mac, view.as_ref().and_then(|v| v.model), self.fallback);
                let model = intent
                    .settings
                    .model
                    .or(view.as_ref().and_then(|v| v.model))
                    .unwrap_or(Model::Cp7960);
                if let Some(requester) = secrets_for {
                    self.check_secret_access(requester, *mac, !intent.settings.lines.is_empty())?;
                }
                let Some(load) = fleet
                    .serving_load(*mac)
                    .or_else(|| fleet.default_load(model).ok().flatten())
                else {
                    return Err(ResolveError::NotFound);
                };
                render::sip_mac_cnf(&self.site, &intent.settings, model, &load)
            }
            GeneratedFile::RingListDat => render::ringlist_dat(),
            GeneratedFile::DialplanXml => render::dialplan_xml(),
            _ => return Err(ResolveError::NotFound),
        };
        Ok(text)
    }

    /// Files with SIP passwords go only to the address leased to their MAC.
    fn check_secret_access(
        &self,
        client: IpAddr,
        mac: Mac,
        has_secrets: bool,
    ) -> Result<(), ResolveError> {
        if !has_secrets || !self.desired().restrict_per_mac_files {
            return Ok(());
        }
        let holder = self.lease_holder.as_ref().and_then(|f| f(client));
        if holder == Some(mac) {
            return Ok(());
        }
        tracing::warn!(
            "refused {mac}'s config (it carries SIP passwords) to {client}, which {}; set [provision] restrict_per_mac_files = false to serve it anyway",
            match holder {
                Some(other) => format!("holds the lease of {other}"),
                None => "holds no lease from phoneboot".to_owned(),
            }
        );
        Err(ResolveError::NotLeaseHolder)
    }
}

impl GeneratedSource for Engine {
    /// A phone asked for `name`. Called before the file is resolved.
    fn observe_request(&self, client: IpAddr, name: &str) {
        let mut fleet = self.fleet();
        let mac = fleet.on_request(Instant::now(), client, name);
        self.drain(fleet);
        self.seen(mac, client, name, super::SeenKind::Request);
    }

    /// A generated config for `name`, or `None` when `name` is not one.
    fn render(&self, client: IpAddr, name: &str) -> Option<Result<Resolved, ResolveError>> {
        let file = GeneratedFile::parse(name)?;
        Some(self.render_file(client, name, &file))
    }

    fn generates(&self, name: &str) -> bool {
        GeneratedFile::parse(name).is_some()
    }

    /// The operator's own config from the root: the fleet learns which
    /// load it names for the asking phone.
    fn observe_root_file(&self, client: IpAddr, name: &str, content: &[u8]) {
        let file = RequestedFile::parse(base_name(name));
        if !operator::names_a_load(&file) {
            return;
        }
        let mut fleet = self.fleet();
        let mac = file.mac().or_else(|| fleet.mac_for_ip(client));
        let model = mac.and_then(|m| fleet.phone(m)).and_then(|v| v.model);
        let load = operator::told_load(&file, content, model);
        fleet.on_operator_config(Instant::now(), client, name, load);
        self.drain(fleet);
    }

    fn names_phone(&self, mac: Mac) -> bool {
        self.desired().phones.contains_key(&mac)
    }

    /// The protocol a phone should recover into (which `termNN.default.loads`
    /// it is served).
    fn protocol_for(&self, client: IpAddr) -> Protocol {
        let fleet = self.fleet();
        let mac = fleet.mac_for_ip(client);
        let model = mac.and_then(|m| fleet.phone(m)).and_then(|v| v.model);
        drop(fleet);
        match (mac, model) {
            (Some(mac), model) => self.desired().intent(mac, model, self.fallback).protocol,
            (None, Some(model)) => self.desired().model_intent(model, self.fallback).protocol,
            (None, None) => self.desired().defaults.protocol.unwrap_or(self.fallback),
        }
    }

    /// The library changed (or was opened): replan every phone.
    fn catalog_changed(&self, catalog: Vec<AvailableLoad>) {
        let mut fleet = self.fleet();
        fleet.set_catalog(catalog);
        self.drain(fleet);
    }
}
