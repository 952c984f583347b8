//! Reading WebAssembly binaries: section headers, custom sections, imports.
//!
//! The bottom of the engine: plain functions over bytes, used by the sandbox
//! (snapshots), workflow modules (their manifest section) and `odw inspect`
//! (what a module can call). Nothing here compiles or runs code.

use std::ops::Range;

/// A module's sections as (id, payload range), read from their headers
/// only: far cheaper than parsing, which visits every function body.
pub fn sections(bytes: &[u8]) -> Result<Vec<(u8, Range<usize>)>, String> {
    if bytes.len() < 8 || bytes[..4] != *b"\0asm" || bytes[4..8] != [1, 0, 0, 0] {
        return Err("not a WebAssembly module (bad header)".into());
    }
    let mut found = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        let (size, len) = leb128_u32(&bytes[at + 1..]).ok_or("a section with a malformed size")?;
        let start = at + 1 + len;
        let end = start.checked_add(size as usize).filter(|&e| e <= bytes.len());
        let end = end.ok_or_else(|| format!("section {id} at {at} runs past the end of the module"))?;
        found.push((id, start..end));
        at = end;
    }
    Ok(found)
}

/// An unsigned LEB128 `u32` and how many bytes it took.
fn leb128_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, &byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The imports of a WebAssembly module as `module::name`.
pub fn imports(bytes: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::ImportSection(section) = payload? {
            for import in section.into_imports() {
                let import = import?;
                found.push(format!("{}::{}", import.module, import.name));
            }
        }
    }
    Ok(found)
}

/// The payload of the custom section `name`, found from section headers.
pub fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    for (id, range) in sections(bytes)? {
        if id != 0 {
            continue;
        }
        let reader = wasmparser::BinaryReader::new(&bytes[range.clone()], range.start);
        let section = wasmparser::CustomSectionReader::new(reader).map_err(|e| e.to_string())?;
        if section.name() == name {
            return Ok(Some(section.data()));
        }
    }
    Ok(None)
}
