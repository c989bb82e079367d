//! Input devices, the watchdog, the balloon, random number generators and
//! panic devices.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Address, BalloonModel, InputBus, InputType, PanicModel, RngBackend, VirtioModel, WatchdogModel,
};

use super::{ArgvError, Builder, json_arg, unsupported};

/// The `-transitional` suffix a virtio model asks for.
pub(super) fn virtio_suffix(model: Option<VirtioModel>) -> &'static str {
    match model {
        Some(VirtioModel::VirtioTransitional) => "-transitional",
        Some(VirtioModel::VirtioNonTransitional) => "-non-transitional",
        _ => "",
    }
}

pub(super) fn input_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let inputs = &b.def.devices.inputs;
    for (i, input) in inputs.iter().enumerate() {
        let path = super::idx_path("input", i, inputs.len());
        if input.input_type == InputType::Evdev {
            let Some(src) = &input.source else {
                return Err(unsupported(&path, "an evdev input needs its host device"));
            };
            let mut obj = Map::new();
            obj.insert("qom-type".into(), json!("input-linux"));
            obj.insert("id".into(), json!(format!("input{i}")));
            obj.insert("evdev".into(), json!(src.dev));
            if src.grab_all == Some(true) {
                obj.insert("grab_all".into(), json!(true));
            }
            if let Some(t) = src.grab_toggle {
                obj.insert("grab-toggle".into(), json!(t.as_str()));
            }
            if let Some(r) = src.repeat {
                obj.insert("repeat".into(), json!(r));
            }
            b.opt("-object", json_arg(Value::Object(obj)));
            continue;
        }
        let suffix = virtio_suffix(input.model);
        let driver = match (input.bus.unwrap_or(InputBus::Ps2), input.input_type) {
            (InputBus::Ps2, _) => continue, // built into the machine
            (InputBus::Usb, InputType::Tablet) => "usb-tablet".to_owned(),
            (InputBus::Usb, InputType::Mouse) => "usb-mouse".to_owned(),
            (InputBus::Usb, InputType::Keyboard) => "usb-kbd".to_owned(),
            (InputBus::Virtio, InputType::Tablet) => format!("virtio-tablet-pci{suffix}"),
            (InputBus::Virtio, InputType::Mouse) => format!("virtio-mouse-pci{suffix}"),
            (InputBus::Virtio, InputType::Keyboard) => format!("virtio-keyboard-pci{suffix}"),
            (InputBus::Virtio, InputType::Passthrough) => format!("virtio-input-host-pci{suffix}"),
            (bus, t) => {
                return Err(unsupported(&path, format!("{t} input on bus '{bus}' is not supported")));
            }
        };
        if !b.ctx.has(&driver) {
            return Err(unsupported(&path, format!("this QEMU has no {driver} device")));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(format!("input{i}")));
        if let Some(src) = &input.source {
            props.insert("evdev".into(), json!(src.dev));
        }
        if let Some(d) = &input.driver {
            b.virtio_options(&mut props, d, &format!("{path}/driver"))?;
        }
        if driver.starts_with("usb") {
            b.usb_addr(&mut props, input.address.as_ref(), &path)?;
        } else {
            b.pci_addr(&mut props, input.address.as_ref(), &path)?;
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
                let driver = match m.model {
                    BalloonModel::VirtioTransitional => "virtio-balloon-pci-transitional",
                    BalloonModel::VirtioNonTransitional => "virtio-balloon-pci-non-transitional",
                    _ => "virtio-balloon-pci",
                };
                props.insert("driver".into(), json!(driver));
                props.insert("id".into(), json!("balloon0"));
                if let Some(a) = m.autodeflate {
                    props.insert("deflate-on-oom".into(), json!(a));
                }
                if let Some(f) = m.free_page_reporting {
                    props.insert("free-page-reporting".into(), json!(f));
                }
                if let Some(d) = &m.driver {
                    b.virtio_options(&mut props, d, "/domain/devices/memballoon/driver")?;
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
    let rngs = &b.def.devices.rngs;
    for (i, r) in rngs.iter().enumerate() {
        let path = super::idx_path("rng", i, rngs.len());
        let obj = format!("objrng{i}");
        match &r.backend {
            RngBackend::Random { path } => b.opt(
                "-object",
                json_arg(json!({ "qom-type": "rng-random", "id": obj, "filename": path.clone().unwrap_or_else(|| "/dev/urandom".into()) })),
            ),
            RngBackend::Builtin => b.opt("-object", json_arg(json!({ "qom-type": "rng-builtin", "id": obj }))),
            RngBackend::Egd { source, seclabels } => {
                let chr = format!("charrng{i}");
                let bpath = format!("{path}/backend");
                let sock = b.ctx.run_dir.join(format!("rng{i}.sock"));
                let host = super::chardev::CharHost {
                    source,
                    seclabels,
                    log: None,
                    path: &bpath,
                    default_socket: &sock,
                    spicevmc: "vdagent",
                };
                let spec = super::chardev::chardev(b, &chr, &host)?;
                b.opt("-chardev", spec);
                b.opt("-object", json_arg(json!({ "qom-type": "rng-egd", "id": obj, "chardev": chr })));
            }
            _ => return Err(unsupported(format!("{path}/backend"), "this rng backend is not supported")),
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(format!("virtio-rng-pci{}", virtio_suffix(Some(r.model)))));
        props.insert("rng".into(), json!(obj));
        props.insert("id".into(), json!(format!("rng{i}")));
        if let Some(rate) = &r.rate {
            props.insert("max-bytes".into(), json!(rate.bytes));
            props.insert("period".into(), json!(rate.period.unwrap_or(1000)));
        }
        if let Some(d) = &r.driver {
            b.virtio_options(&mut props, d, &format!("{path}/driver"))?;
        }
        b.pci_addr(&mut props, r.address.as_ref(), &path)?;
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
