//! CI's smoke run of the fuzz targets (fuzz/, run for real by `scripts/fuzz.sh` on nightly): each
//! target's body over its seed corpus and over a few thousand seeded mutations of it (bit flips,
//! byte edits, truncations, splices between seeds, random bytes). A panic here is a crash the
//! fuzzer would report; every crash it found is pinned below as a regression input.

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use crate::support::repo_root;

/// xorshift64*: seeded, so a failure names the input that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Interesting bytes for text formats: delimiters, digits, signs, quotes, NUL, invalid UTF-8.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"-",
    b"1e308",
    b"-0",
    b"NaN",
    b"0",
    b"99999999999999999999",
    b"\n",
    b"\r\n",
    b" ",
    b"\0",
    b"\xff",
    b"\xc3",
    b"//",
    b"/*",
    b"=",
    b"graph",
    b"block",
    b"contract",
    b"repeat(",
    b"Content-Length: ",
    b"\r\n\r\n",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(16) == 0 {
        let n = rng.below(256);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                v.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(64)).min(len);
                v.drain(i..j);
            }
            4 => v.truncate(rng.below(len + 1)),
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                // Duplicate a chunk (repeated items, nested brackets).
                let i = rng.below(len);
                let j = (i + 1 + rng.below(32)).min(len);
                let chunk = v[i..j].to_vec();
                v.splice(j..j, chunk);
            }
            _ => {}
        }
    }
    v
}

fn smoke(target: &str, mutations: usize) {
    let (_, body) = bodies::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .expect("a target");
    let files = bodies::seed_files(&repo_root(), target);
    assert!(!files.is_empty(), "{target}: no seeds");
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (p, s) in files.iter().zip(&seeds) {
        let r = std::panic::catch_unwind(|| body(s));
        assert!(r.is_ok(), "{target}: seed {} panics", p.display());
    }
    let mut rng = Rng(0x5EED_F022 ^ target.len() as u64 ^ (target.as_bytes()[0] as u64) << 32);
    for k in 0..mutations {
        let input = mutate(&mut rng, &seeds);
        if std::panic::catch_unwind(|| body(&input)).is_err() {
            let path = std::env::temp_dir().join(format!("tl-fuzz-smoke-{target}-{k}.bin"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "{target}: mutation {k} panics; input saved to {}",
                path.display()
            );
        }
    }
}

#[test]
fn fuzz_smoke_check() {
    smoke("check", 1500);
}

#[test]
fn fuzz_smoke_onnx() {
    smoke("onnx", 3000);
}

#[test]
fn fuzz_smoke_npy() {
    smoke("npy", 4000);
}

#[test]
fn fuzz_smoke_safetensors() {
    smoke("safetensors", 3000);
}

#[test]
fn fuzz_smoke_vnnlib() {
    smoke("vnnlib", 4000);
}

#[test]
fn fuzz_smoke_torchlean() {
    smoke("torchlean", 3000);
}

#[test]
fn fuzz_smoke_lsp_framing() {
    smoke("lsp_framing", 3000);
}
