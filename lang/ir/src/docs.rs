//! The operator reference of docs/language.md, generated from the table so it cannot drift.

use crate::ops::{Family, OPS};

/// The markdown op reference: one table per family with signature, shape rule and semantics.
pub fn op_reference_markdown() -> String {
    let mut families: Vec<Family> = OPS.iter().map(|o| o.family).collect();
    families.dedup();
    let mut out = String::new();
    for family in families {
        out.push_str(&format!("\n### {}\n\n", capitalise(family.name())));
        out.push_str("| op | signature | shape rule | semantics |\n|---|---|---|---|\n");
        for o in OPS.iter().filter(|o| o.family == family) {
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} |\n",
                o.name,
                o.signature(),
                o.shape_rule.replace('|', "\\|"),
                o.semantics.replace('|', "\\|")
            ));
        }
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- ops:begin (generated from lang/ir/src/ops.rs; TL_BLESS=1 cargo test -p tl-ir regenerates) -->\n";
    const END: &str = "<!-- ops:end -->";

    /// docs/language.md carries the current op table; `TL_BLESS=1` rewrites it.
    #[test]
    fn language_reference_lists_every_op() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
        let doc = std::fs::read_to_string(&path).expect("docs/language.md");
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("docs/language.md lacks the generated op section markers");
        };
        let current = &doc[b + BEGIN.len()..e];
        let wanted = op_reference_markdown();
        if current != wanted {
            if std::env::var_os("TL_BLESS").is_some() {
                let updated = format!("{}{}{}{}", &doc[..b], BEGIN, wanted, &doc[e..]);
                std::fs::write(&path, updated).expect("write docs/language.md");
            } else {
                panic!(
                    "docs/language.md's op table is stale: run `TL_BLESS=1 cargo test -p tl-ir`"
                );
            }
        }
    }
}
