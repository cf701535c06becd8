#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = cohort_protocol::fuzz::dkg_mutated(data);
});
