//! Signature help for op calls: the op's inputs and attributes, with the one being written.

use tl_syntax::lexer::Tok;

use super::completion::enclosing_call;
use super::item_before;
use super::text::tokens_before;
use tl_analysis::db::{Db, SourceFile};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterInfo {
    pub label: String,
    pub documentation: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHelp {
    /// `linear(x, weight, bias?)`.
    pub label: String,
    pub documentation: String,
    /// Tensor inputs first, then attributes, in the op table's order.
    pub parameters: Vec<ParameterInfo>,
    pub active_parameter: Option<u32>,
}

/// Signature help when the cursor is inside the parentheses of an op call.
pub fn signature_help(db: &dyn Db, file: SourceFile, offset: u32) -> Option<SignatureHelp> {
    let item = item_before(db, file, offset)?;
    let rel = (offset - item.offset(db)) as usize;
    let toks = tokens_before(item.text(db), rel);
    let (callee, args) = enclosing_call(&toks)?;
    let info = tl_ir::lookup(&callee)?;
    let mut parameters: Vec<ParameterInfo> = info
        .inputs
        .iter()
        .map(|i| ParameterInfo {
            label: if i.variadic {
                format!("{}...", i.name)
            } else if i.optional {
                format!("{}?", i.name)
            } else {
                i.name.to_string()
            },
            documentation: Some(
                if i.optional {
                    "optional tensor input"
                } else {
                    "tensor input"
                }
                .into(),
            ),
        })
        .collect();
    let n_inputs = parameters.len();
    parameters.extend(info.attrs.iter().map(|a| ParameterInfo {
        label: match a.default {
            Some(d) => format!("{} = {}", a.name, d),
            None => format!("{}: {}", a.name, a.kind),
        },
        documentation: Some(a.doc.to_string()),
    }));
    // The argument being written: the tokens after the last top-level comma.
    let mut depth = 0i32;
    let mut positional = 0usize;
    let mut current_start = 0usize;
    for (i, t) in args.iter().enumerate() {
        match t.tok {
            Tok::LParen | Tok::LBracket => depth += 1,
            Tok::RParen | Tok::RBracket => depth -= 1,
            Tok::Comma if depth == 0 => {
                let named = matches!(
                    &args[current_start..i],
                    [n, e, ..] if matches!(n.tok, Tok::Ident(_)) && e.tok == Tok::Eq
                );
                if !named {
                    positional += 1;
                }
                current_start = i + 1;
            }
            _ => {}
        }
    }
    let active = match &args[current_start..] {
        [n, e, ..] if e.tok == Tok::Eq => match n.tok {
            Tok::Ident(name) => info
                .attrs
                .iter()
                .position(|a| a.name == name)
                .map(|p| (n_inputs + p) as u32),
            _ => None,
        },
        _ => {
            let last_variadic = info.inputs.last().is_some_and(|i| i.variadic);
            if positional < n_inputs {
                Some(positional as u32)
            } else if last_variadic {
                Some((n_inputs - 1) as u32)
            } else {
                None
            }
        }
    };
    Some(SignatureHelp {
        label: info.signature(),
        documentation: format!("{}\n\nShape rule: {}", info.semantics, info.shape_rule),
        parameters,
        active_parameter: active,
    })
}
