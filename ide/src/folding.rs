//! Folding ranges: items that span several lines, and runs of comment lines.

use tl_syntax::lexer::{tokenize, Tok};
use tl_syntax::TextRange;

use super::file_text;
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::items::file_items;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FoldKind {
    Item,
    Comment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fold {
    pub range: TextRange,
    pub kind: FoldKind,
}

/// The foldable regions of `file` (only those spanning more than one line).
pub fn folding_ranges(db: &dyn Db, file: SourceFile) -> Vec<Fold> {
    let text = file_text(db, file);
    let multi_line = |r: TextRange| text[r.start as usize..r.end as usize].contains('\n');
    let mut out: Vec<Fold> = file_items(db, file)
        .iter()
        .map(|item| {
            let start = item.offset(db);
            TextRange::new(start, start + item.text(db).len() as u32)
        })
        .filter(|r| multi_line(*r))
        .map(|range| Fold {
            range,
            kind: FoldKind::Item,
        })
        .collect();
    // Consecutive comment tokens separated only by one newline each form a block.
    let mut run: Option<TextRange> = None;
    let flush = |run: &mut Option<TextRange>, out: &mut Vec<Fold>| {
        if let Some(r) = run.take() {
            if multi_line(r) {
                out.push(Fold {
                    range: r,
                    kind: FoldKind::Comment,
                });
            }
        }
    };
    for t in tokenize(text).tokens {
        if !matches!(t.tok, Tok::Comment(_) | Tok::DocComment(_)) {
            flush(&mut run, &mut out);
            continue;
        }
        match run {
            Some(r)
                if text[r.end as usize..t.span.start as usize]
                    .matches('\n')
                    .count()
                    == 1 =>
            {
                run = Some(r.cover(t.span))
            }
            _ => {
                flush(&mut run, &mut out);
                run = Some(t.span);
            }
        }
    }
    flush(&mut run, &mut out);
    out.sort_by_key(|f| (f.range.start, f.range.end));
    out
}
