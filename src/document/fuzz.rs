//! The properties the fuzz targets (`fuzz/`) check, kept in the crate so
//! that the normal test suite replays the committed inputs through exactly
//! the same code (`tests/fuzz_corpus.rs`).

use super::{Document, Statement};

/// Parsing never panics, and an error points inside the input.
pub fn check_parse(data: &[u8]) {
    if let Err(e) = Document::parse(data.to_vec()) {
        assert!(
            e.offset <= data.len(),
            "error offset {} past the end {}",
            e.offset,
            data.len()
        );
        assert!(e.line >= 1 && e.column >= 1);
    }
}

/// For input that parses: the added text parses and holds the component
/// with the exact secret, and removing it gives back the input byte for byte.
pub fn check_edit(data: &[u8]) {
    // The first bytes choose the secret; the rest is the config.
    let (secret, config) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"fuzz-secret"[..], data),
    };
    if secret.is_empty() || secret.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return;
    }
    let Ok(doc) = Document::parse(config.to_vec()) else {
        return;
    };
    let name = "fuzz.new.example";
    let added = doc.append_component(name, secret);
    let d2 = Document::parse(added).expect("add keeps the file valid Lua");
    let header = d2
        .statements()
        .rposition(|s| matches!(&s.statement, Statement::Section(h) if h.name.literal().as_deref() == Some(name.as_bytes())))
        .expect("the added component is there");
    let got = d2
        .section_options(header)
        .into_iter()
        .find(|o| o.name == "component_secret")
        .and_then(|o| o.value.clone())
        .and_then(|v| v.literal());
    assert_eq!(
        got.as_deref(),
        Some(secret),
        "the secret reads back exactly"
    );
    let range = d2
        .section_removal(header)
        .expect("our own block is removable");
    assert_eq!(
        d2.splice(vec![(range, Vec::new())]),
        config,
        "remove(add(x)) == x"
    );
}
