//! Replays the fuzz targets' committed inputs — the seeds and every input a
//! fuzzer ever crashed on (`fuzz/regressions/`) — through the same checks
//! the targets make, so the normal suite keeps them fixed.

use std::path::Path;

use fogbow_xmpp_ctl::document::fuzz::{check_edit, check_parse};

fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn seeds_and_regressions_pass_both_checks() {
    // Debian's default config is a seed too (kept once, in examples/).
    let debian = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prosody/prosody.cfg.lua"),
    )
    .unwrap();
    check_parse(&debian);
    check_edit(&debian);
    let mut n = 1;
    for dir in ["seeds/parse", "seeds/edit", "regressions"] {
        for (path, data) in inputs(dir) {
            let r = std::panic::catch_unwind(|| {
                check_parse(&data);
                check_edit(&data);
            });
            assert!(r.is_ok(), "{path}");
            n += 1;
        }
    }
    assert!(n >= 7, "only {n} inputs");
}
