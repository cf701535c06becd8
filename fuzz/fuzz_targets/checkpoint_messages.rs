#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cohort_protocol::fuzz::checkpoint_messages(data);
});
