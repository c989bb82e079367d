//! Input devices, the watchdog, the balloon, random number generators and
//! panic devices.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Address, BalloonModel, InputBus, InputType, PanicModel, RngBackend, WatchdogModel,
};

use super::{ArgvError, Builder, json_arg, unsupported};

pub(super) fn input_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    for (i, input) in b.def.devices.inputs.iter().enumerate() {
        let driver = match (input.bus.unwrap_or(InputBus::Ps2), input.input_type) {
            (InputBus::Ps2, _) => continue, // built into the machine
            (InputBus::Usb, InputType::Tablet) => "usb-tablet",
            (InputBus::Usb, InputType::Mouse) => "usb-mouse",
            (InputBus::Usb, InputType::Keyboard) => "usb-kbd",
            (InputBus::Virtio, InputType::Tablet) => "virtio-tablet-pci",
            (InputBus::Virtio, InputType::Mouse) => "virtio-mouse-pci",
            (InputBus::Virtio, InputType::Keyboard) => "virtio-keyboard-pci",
            (bus, t) => {
                return Err(unsupported("/domain/devices/input", format!("{t} input on bus '{bus}' is not supported")));
            }
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(format!("input{i}")));
        if driver.starts_with("usb") {
            b.usb_addr(&mut props, input.address.as_ref(), "/domain/devices/input")?;
        } else {
            b.pci_addr(&mut props, input.address.as_ref(), "/domain/devices/input")?;
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

pub(super) fn misc_device_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    if let Some(w) = &b.def.devices.watchdog {
        let driver = match w.model {
            WatchdogModel::I6300esb => "i6300esb",
            WatchdogModel::Ib700 => "ib700",
            m => return Err(unsupported("/domain/devices/watchdog/@model", format!("watchdog '{m}' is not for x86"))),
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!("watchdog0"));
        if driver == "i6300esb" {
            b.pci_addr(&mut props, w.address.as_ref(), "/domain/devices/watchdog")?;
        }
        b.device(Value::Object(props));
    }
    if let Some(m) = &b.def.devices.memballoon {
        match m.model {
            BalloonModel::None => {}
            BalloonModel::Virtio | BalloonModel::VirtioNonTransitional | BalloonModel::VirtioTransitional => {
                let mut props = Map::new();
                props.insert("driver".into(), json!("virtio-balloon-pci"));
                props.insert("id".into(), json!("balloon0"));
                if let Some(a) = m.autodeflate {
                    props.insert("deflate-on-oom".into(), json!(a));
                }
                if let Some(f) = m.free_page_reporting {
                    props.insert("free-page-reporting".into(), json!(f));
                }
                b.pci_addr(&mut props, m.address.as_ref(), "/domain/devices/memballoon")?;
                b.device(Value::Object(props));
            }
            other => {
                return Err(unsupported(
                    "/domain/devices/memballoon/@model",
                    format!("balloon '{other}' is not for QEMU"),
                ));
            }
        }
    }
    for (i, r) in b.def.devices.rngs.iter().enumerate() {
        let obj = format!("objrng{i}");
        match &r.backend {
            RngBackend::Random { path } => b.opt(
                "-object",
                json_arg(json!({ "qom-type": "rng-random", "id": obj, "filename": path.clone().unwrap_or_else(|| "/dev/urandom".into()) })),
            ),
            RngBackend::Builtin => b.opt("-object", json_arg(json!({ "qom-type": "rng-builtin", "id": obj }))),
            _ => return Err(unsupported("/domain/devices/rng/backend", "this rng backend is not supported")),
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!("virtio-rng-pci"));
        props.insert("rng".into(), json!(obj));
        props.insert("id".into(), json!(format!("rng{i}")));
        if let Some(rate) = &r.rate {
            props.insert("max-bytes".into(), json!(rate.bytes));
            props.insert("period".into(), json!(rate.period.unwrap_or(1000)));
        }
        b.pci_addr(&mut props, r.address.as_ref(), "/domain/devices/rng")?;
        b.device(Value::Object(props));
    }
    for p in &b.def.devices.panics {
        match p.model {
            None | Some(PanicModel::Isa) => {
                let mut props = Map::new();
                props.insert("driver".into(), json!("pvpanic"));
                if let Some(Address::Isa(a)) = &p.address
                    && let Some(io) = a.iobase
                {
                    props.insert("ioport".into(), json!(io));
                }
                b.device(Value::Object(props));
            }
            Some(m) => {
                return Err(unsupported("/domain/devices/panic/@model", format!("panic model '{m}' is not for x86")));
            }
        }
    }
    Ok(())
}
