//! `tlc explain TL0123`.

use tl_ide::{explain, parse_code};

use crate::exit;

pub fn run(code: &str) -> u8 {
    let Some(n) = parse_code(code) else {
        eprintln!("error: `{code}` is not a diagnostic code (they look like TL0201)");
        return exit::USAGE;
    };
    match explain(n) {
        Some(text) => {
            println!("{text}");
            exit::OK
        }
        None => {
            eprintln!("error: TL{n:04} is not a known diagnostic code; docs/diagnostics.md lists them all");
            exit::USAGE
        }
    }
}
