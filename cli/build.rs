//! Links `ferrokube` as a position-dependent executable (`-no-pie`), as Go links upstream's
//! components on linux/amd64: no start-up pass over a million relative relocations, and the
//! pages they would dirty (`.data.rel.ro`, the GOT) stay shared file pages. Every component
//! runs from this one binary, so each process saves the same few MiB of resident memory.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
