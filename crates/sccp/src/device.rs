//! SCCP device types: the number a phone puts in its Register, which is
//! also the `NNN` of `<loadInformationNNN>` in XMLDefault.cnf.xml.

/// A device type as sent in Register (offset 28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct DeviceType(pub u32);

/// Numbers from chan-sccp's `devicetype` enum, cross-checked with
/// Wireshark's `DeviceType`. Names follow `cisco::Model::name` where that
/// crate knows the model. 308/309 follow chan-sccp (7961G-GE/7941G-GE);
/// Wireshark labels them the other way round, and no primary source here
/// settles it.
static MODELS: [(u32, &str); 26] = [
    (6, "7910"),
    (7, "7960"),
    (8, "7940"),
    (9, "7935"),
    (12, "ATA186"),
    (13, "ATA188"),
    (115, "7941"),
    (119, "7971G-GE"),
    (307, "7911"),
    (308, "7961G-GE"),
    (309, "7941G-GE"),
    (365, "7921"),
    (369, "7906"),
    (404, "7962"),
    (434, "7942"),
    (435, "7945"),
    (436, "7965"),
    (437, "7975"),
    (20000, "7905"),
    (30002, "7920"),
    (30006, "7970"),
    (30007, "7912"),
    (30008, "7902"),
    (30016, "IP Communicator"),
    (30018, "7961"),
    (30019, "7936"),
];

impl DeviceType {
    pub const CP7940: DeviceType = DeviceType(8);
    pub const CP7960: DeviceType = DeviceType(7);
    pub const CP7941: DeviceType = DeviceType(115);
    pub const CP7961: DeviceType = DeviceType(30018);
    pub const CP7965: DeviceType = DeviceType(436);

    /// The model, e.g. `7960`, or `None` for a number not in the table.
    pub fn model_name(self) -> Option<&'static str> {
        MODELS
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, name)| *name)
    }

    /// The device type a `model` (as [`DeviceType::model_name`] spells it,
    /// case ignored) puts in its Register; `None` for a model not in the
    /// table. A simulated phone needs this direction.
    pub fn for_model(model: &str) -> Option<DeviceType> {
        MODELS
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(model))
            .map(|(n, _)| DeviceType(*n))
    }
}

impl std::fmt::Display for DeviceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.model_name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "device type {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_numbers() {
        for (n, name) in [
            (7, "7960"),
            (8, "7940"),
            (115, "7941"),
            (30018, "7961"),
            (436, "7965"),
            (30006, "7970"),
            (369, "7906"),
        ] {
            assert_eq!(DeviceType(n).model_name(), Some(name));
        }
        assert_eq!(DeviceType(0).model_name(), None);
        assert_eq!(DeviceType(7).to_string(), "7960 (7)");
        assert_eq!(DeviceType(1234).to_string(), "device type 1234");
    }

    #[test]
    fn models_map_back_to_their_numbers() {
        for (n, name) in MODELS {
            assert_eq!(DeviceType::for_model(name), Some(DeviceType(n)), "{name}");
            assert_eq!(DeviceType(n).model_name(), Some(name));
        }
        assert_eq!(DeviceType::for_model("7961g-ge"), Some(DeviceType(308)));
        assert_eq!(DeviceType::for_model("7960"), Some(DeviceType::CP7960));
        assert_eq!(DeviceType::for_model("7999"), None);
        assert_eq!(DeviceType::for_model(""), None);
    }

    #[test]
    fn table_has_no_duplicate_numbers_or_names() {
        for (i, (n, _)) in MODELS.iter().enumerate() {
            assert!(MODELS[i + 1..].iter().all(|(m, _)| m != n), "{n}");
        }
        for (i, (_, name)) in MODELS.iter().enumerate() {
            assert!(
                MODELS[i + 1..]
                    .iter()
                    .all(|(_, m)| !m.eq_ignore_ascii_case(name)),
                "{name}"
            );
        }
    }
}
