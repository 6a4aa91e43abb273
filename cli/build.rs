//! Link arguments of the `ferrokube` binary.
//!
//! - Position-dependent (`-no-pie`), as Go links upstream's components on linux/amd64: no
//!   start-up pass over a million relative relocations, and the pages they would dirty
//!   (`.data.rel.ro`, the GOT) stay shared file pages. Every component runs from this one
//!   binary, so each process saves the same few MiB of resident memory.
//! - In release builds linked by LLD (Rust's default on x86_64 Linux), the functions a kubelet
//!   runs, then those the controller manager runs, are laid out together in the order of
//!   `link.order`. The kernel maps code in 64 KiB blocks around each page a process touches,
//!   so a node agent whose few MiB of code were spread across the 40 MB `.text` of the whole
//!   control plane held most of it resident. `scripts/link-order.sh` records the list again;
//!   names it no longer matches are skipped. The names carry hashes of the dependencies'
//!   features, so build `ferrokube` on its own (`cargo build --release -p ferrokube`), not in
//!   one command with the bench or the tests.

use std::path::Path;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link.order");
    if target == "x86_64-unknown-linux-gnu" && std::env::var("PROFILE").as_deref() == Ok("release")
    {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link.order");
}
