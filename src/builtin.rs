//! Workflows shipped inside the binary, as `.js` files beside this module
//! (`include_str!`), so they work from any directory with nothing installed.
//!
//! A built-in is found by name after every saved workflow
//! ([`crate::commands::run::saved_workflow`]): saving `generate.js` in any
//! workflows directory replaces the built-in `generate` for that project or
//! user, and `odw workflows list` then shows the saved one.

/// One built-in workflow.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub source: &'static str,
}

/// Every built-in, by name.
pub const ALL: &[Builtin] = &[Builtin { name: "generate", source: include_str!("generate/generate.js") }];

/// The built-in workflow called `name`.
pub fn find(name: &str) -> Option<Builtin> {
    ALL.iter().copied().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_found_by_their_meta_name() {
        for b in ALL {
            assert!(b.source.contains(&format!("name: '{}'", b.name)), "{} names itself", b.name);
            assert_eq!(find(b.name).map(|f| f.name), Some(b.name));
        }
        assert!(find("no-such-builtin").is_none());
    }
}
