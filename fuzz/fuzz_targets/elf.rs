//! Fuzz target `elf`: see `fuzz/shared.rs` for what it checks.
#![no_main]

#[path = "../shared.rs"]
mod shared;

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::elf(data));
