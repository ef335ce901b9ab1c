//! The editor: for any input that parses, `add` then `remove` restores the
//! bytes exactly, and the added text still parses and holds the component.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fogbow_xmpp_ctl::document::fuzz::check_edit(data);
});
