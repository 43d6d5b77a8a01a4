//! `tlc fmt`: the canonical layout, in place or as a check.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::exit;

pub fn run(paths: &[PathBuf], check: bool) -> u8 {
    if paths.len() == 1 && paths[0].as_os_str() == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: standard input: {e}");
            return exit::USAGE;
        }
        return match tl_syntax::format::format(&text) {
            Ok(out) => {
                if check {
                    return if out == text {
                        exit::OK
                    } else {
                        exit::FINDINGS
                    };
                }
                let _ = std::io::stdout().write_all(out.as_bytes());
                exit::OK
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("<stdin>: {}[{}]: {}", "error", e.code, e.message);
                }
                exit::FINDINGS
            }
        };
    }
    let files = match crate::sources::collect(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut status = exit::OK;
    for path in files {
        let text = match tl_ide::vfs::read_source_with_bom(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return exit::USAGE;
            }
        };
        match tl_syntax::format::format(&text) {
            Ok(out) if out == text => {}
            Ok(out) => {
                if check {
                    println!("would reformat {}", path.display());
                    status = exit::FINDINGS;
                } else if let Err(e) = std::fs::write(&path, out) {
                    eprintln!("error: {}: {e}", path.display());
                    return exit::USAGE;
                } else {
                    println!("formatted {}", path.display());
                }
            }
            Err(errors) => {
                eprintln!(
                    "error: {} has syntax errors ({}); run `tlc check` for details",
                    path.display(),
                    errors.len()
                );
                status = exit::FINDINGS;
            }
        }
    }
    status
}
