//! `validate()` checks a document where it is: it does not encode it (no
//! JSON round trip), which cost more than all its checks together. Measured
//! by counting this thread's allocations, which is deterministic.
#![allow(clippy::unwrap_used)]
// A counting allocator is a GlobalAlloc, which is an unsafe trait.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use virtkit_model::domain::Domain;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn validate_does_not_encode_the_document() {
    let mut disks = String::new();
    for i in 0..64 {
        disks.push_str(&format!(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>\
             <source file='/var/lib/images/disk-{i}.qcow2'/><target dev='vd{i}' bus='virtio'/>\
             <serial>serial-{i}</serial></disk>"
        ));
    }
    let xml = format!(
        "<domain type='kvm'><name>big</name><title>a big one</title><description>many disks</description>\
         <memory unit='MiB'>512</memory><vcpu>2</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>\
         <devices>{disks}</devices></domain>"
    );
    let d = Domain::from_xml(&xml).unwrap();
    let encode = allocations(|| drop(serde_json::to_value(&d).unwrap()));
    let validate = allocations(|| d.validate().unwrap());
    assert!(validate * 2 < encode, "validate() made {validate} allocations, a JSON encoding alone {encode}");
}
