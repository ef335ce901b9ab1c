//! The parser on arbitrary bytes: never panics, never loops, and an error
//! carries a position inside the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fogbow_xmpp_ctl::document::fuzz::check_parse(data);
});
