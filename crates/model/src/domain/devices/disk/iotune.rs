//! `<iotune>`: a disk's I/O limits.

use serde::{Deserialize, Serialize};

use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

macro_rules! iotune {
    ($($(#[$m:meta])* $field:ident),+ $(,)?) => {
        /// Limits on a disk's throughput and operations per second; the
        /// `_max` ones are bursts, `_max_length` their seconds. A total
        /// excludes its read and write halves.
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[non_exhaustive]
        pub struct IoTune {
            $($(#[$m])* pub $field: Option<u64>,)+
            /// Disks of one group share their limits.
            pub group_name: Option<String>,
        }

        impl IoTune {
            /// Every limit with its XML name, in libvirt's order (the group
            /// name goes before the `_max_length` ones).
            pub fn limits(&self) -> [(&'static str, Option<u64>); 19] {
                [$((stringify!($field), self.$field)),+]
            }

            pub(crate) fn read(el: &El<'_, '_>) -> Result<IoTune> {
                Ok(IoTune {
                    $($field: el.child_value(stringify!($field))?,)+
                    group_name: el.child_text("group_name")?,
                })
            }
        }
    };
}

iotune! {
    total_bytes_sec,
    read_bytes_sec,
    write_bytes_sec,
    total_iops_sec,
    read_iops_sec,
    write_iops_sec,
    total_bytes_sec_max,
    read_bytes_sec_max,
    write_bytes_sec_max,
    total_iops_sec_max,
    read_iops_sec_max,
    write_iops_sec_max,
    /// The size one operation counts as, in bytes.
    size_iops_sec,
    total_bytes_sec_max_length,
    read_bytes_sec_max_length,
    write_bytes_sec_max_length,
    total_iops_sec_max_length,
    read_iops_sec_max_length,
    write_iops_sec_max_length,
}

impl IoTune {
    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("iotune");
        for (name, v) in self.limits() {
            if name == "total_bytes_sec_max_length" {
                w.opt_text_element("group_name", self.group_name.as_ref());
            }
            w.opt_text_element(name, v.as_ref());
        }
        w.end();
    }
}
