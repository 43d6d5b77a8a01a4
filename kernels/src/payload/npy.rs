//! `.npy` reader (numpy format versions 1.0, 2.0 and 3.0): every numeric dtype numpy writes for
//! f16/f32/f64, i8..i64, u8..u64 and bool, in either byte order, C or Fortran order.
//! The header is a Python dict literal; a small parser reads exactly the subset numpy emits.

use super::decode::{byte_len, decode_tensor, Origin};
use super::{io_error, TensorInfo};
use crate::dtype::DType;
use crate::error::{PayloadError, PayloadResult};
use crate::tensor::Tensor;
use std::io::Read;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// numpy itself refuses headers above 10 000 bytes by default; allow generous room but refuse
/// a corrupt length that would make us allocate gigabytes.
const MAX_HEADER_LEN: usize = 1 << 20;

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// The tensor's name is the file stem.
    pub info: TensorInfo,
    pub big_endian: bool,
    pub fortran_order: bool,
    /// Byte offset of the data section.
    pub data_offset: usize,
}

/// Reads only the header of `path` (and the file size, to check the data length).
pub fn read_header(path: &Path) -> PayloadResult<NpyHeader> {
    let label = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut prefix = vec![0u8; 12.min(file_len as usize)];
    file.read_exact(&mut prefix)
        .map_err(|e| io_error(path, e))?;
    let (header_len, offset) = preamble(&label, &prefix)?;
    let mut head = prefix;
    let total = offset + header_len;
    if (total as u64) > file_len {
        return Err(header_err(
            &label,
            format!("header needs {total} bytes, file has {file_len}"),
        ));
    }
    let have = head.len();
    head.resize(total, 0);
    file.read_exact(&mut head[have..])
        .map_err(|e| io_error(path, e))?;
    let header = parse_header_bytes(&label, &stem(path), &head)?;
    let origin = Origin {
        path: &label,
        name: &header.info.name,
    };
    let need = byte_len(origin, header.info.dtype, &header.info.shape)? as u64;
    let found = file_len - header.data_offset as u64;
    if need != found {
        return Err(PayloadError::DataLength {
            path: label.clone(),
            name: header.info.name,
            expected: need,
            found,
        });
    }
    Ok(header)
}

/// Reads a whole `.npy` file.
pub fn read(path: &Path) -> PayloadResult<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    parse(&path.display().to_string(), &stem(path), &bytes)
}

/// Parses an in-memory `.npy` file; `label` names it in errors, `name` is the tensor's name.
pub fn parse(label: &str, name: &str, bytes: &[u8]) -> PayloadResult<Tensor> {
    let h = parse_header_bytes(label, name, bytes)?;
    let origin = Origin { path: label, name };
    decode_tensor(
        origin,
        h.info.dtype,
        h.big_endian,
        h.fortran_order,
        &h.info.shape,
        &bytes[h.data_offset..],
    )
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn header_err(label: &str, detail: impl Into<String>) -> PayloadError {
    PayloadError::NpyHeader {
        path: label.into(),
        detail: detail.into(),
    }
}

/// Checks the magic and version; returns (header length, header offset).
fn preamble(label: &str, bytes: &[u8]) -> PayloadResult<(usize, usize)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(header_err(label, "missing the \\x93NUMPY magic"));
    }
    match bytes[6] {
        1 => Ok((u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)),
        2 | 3 => {
            let b = bytes
                .get(8..12)
                .ok_or_else(|| header_err(label, "truncated header length"))?;
            let len = u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
            if len > MAX_HEADER_LEN {
                return Err(header_err(
                    label,
                    format!("header length {len} is implausibly large"),
                ));
            }
            Ok((len, 12))
        }
        v => Err(header_err(
            label,
            format!("unsupported format version {v}.{}", bytes[7]),
        )),
    }
}

/// Parses the header from the file's first bytes (they must contain the whole header).
pub fn parse_header_bytes(label: &str, name: &str, bytes: &[u8]) -> PayloadResult<NpyHeader> {
    let (len, offset) = preamble(label, bytes)?;
    let raw = bytes
        .get(offset..offset + len)
        .ok_or_else(|| header_err(label, format!("header of {len} bytes is truncated")))?;
    // v1/v2 headers are latin-1, v3 UTF-8; numpy writes ASCII in practice. Decode as UTF-8 and
    // reject anything else rather than guess.
    let text =
        std::str::from_utf8(raw).map_err(|_| header_err(label, "header is not valid text"))?;
    let dict = DictParser {
        s: text.as_bytes(),
        i: 0,
        label,
    }
    .dict()?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in dict {
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            (k, v) => {
                return Err(header_err(
                    label,
                    format!("unexpected header entry {k:?}: {v:?}"),
                ))
            }
        }
    }
    let descr = descr.ok_or_else(|| header_err(label, "no 'descr' entry"))?;
    let fortran_order = fortran.ok_or_else(|| header_err(label, "no 'fortran_order' entry"))?;
    let dims = shape.ok_or_else(|| header_err(label, "no 'shape' entry"))?;
    let (dtype, big_endian) = parse_descr(label, &descr)?;
    let shape = dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| PayloadError::ShapeOverflow {
            path: label.into(),
            name: name.into(),
            shape: dims.clone(),
        })?;
    Ok(NpyHeader {
        info: TensorInfo {
            name: name.into(),
            dtype,
            shape,
        },
        big_endian,
        fortran_order,
        data_offset: offset + len,
    })
}

/// `'<f4'` -> (F32, little endian). `=` means native order (little on every platform tl runs on).
fn parse_descr(label: &str, descr: &str) -> PayloadResult<(DType, bool)> {
    let unsupported = || PayloadError::UnsupportedDType {
        path: label.into(),
        dtype: descr.into(),
    };
    let (order, rest) = match descr.as_bytes().first() {
        Some(c @ (b'<' | b'>' | b'|' | b'=')) => (*c, &descr[1..]),
        _ => (b'|', descr),
    };
    let dtype = match rest {
        "b1" | "?" => DType::Bool,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "f2" | "e" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => return Err(unsupported()),
    };
    let big_endian = order == b'>' || (order == b'=' && cfg!(target_endian = "big"));
    Ok((dtype, big_endian))
}

#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// A parser for the dict literal numpy writes: string keys; string, bool or int-tuple values.
struct DictParser<'a> {
    s: &'a [u8],
    i: usize,
    label: &'a str,
}

impl DictParser<'_> {
    fn err(&self, what: &str) -> PayloadError {
        header_err(
            self.label,
            format!("{what} at byte {} of the header dict", self.i),
        )
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn dict(mut self) -> PayloadResult<Vec<(String, Value)>> {
        if !self.eat(b'{') {
            return Err(self.err("expected '{'"));
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return Err(self.err("expected ':'"));
            }
            let value = self.value()?;
            out.push((key, value));
            if !self.eat(b',') {
                if self.eat(b'}') {
                    break;
                }
                return Err(self.err("expected ',' or '}'"));
            }
        }
        self.ws();
        if self.i != self.s.len() {
            return Err(self.err("unexpected text after the dict"));
        }
        Ok(out)
    }

    fn string(&mut self) -> PayloadResult<String> {
        self.ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a quoted string")),
        };
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| self.err("unterminated string"))?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn value(&mut self) -> PayloadResult<Value> {
        self.ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            return Ok(Value::Bool(true));
        }
        if rest.starts_with(b"False") {
            self.i += 5;
            return Ok(Value::Bool(false));
        }
        match rest.first() {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    dims.push(self.int()?);
                    if !self.eat(b',') {
                        if self.eat(b')') {
                            break;
                        }
                        return Err(self.err("expected ',' or ')' in shape"));
                    }
                }
                Ok(Value::Tuple(dims))
            }
            Some(b'[') => Err(PayloadError::UnsupportedDType {
                path: self.label.into(),
                dtype: "structured (record) dtype".into(),
            }),
            _ => Err(self.err("expected a string, True/False or a tuple")),
        }
    }

    fn int(&mut self) -> PayloadResult<u64> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("expected a non-negative integer"));
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
        // Python 2 wrote longs as `3L`.
        if self.s.get(self.i) == Some(&b'L') {
            self.i += 1;
        }
        digits.parse::<u64>().map_err(|_| {
            header_err(
                self.label,
                format!("dimension {digits} does not fit 64 bits"),
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a `.npy` file the way numpy does (header padded with spaces to 64 bytes).
    pub(crate) fn npy_bytes(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let prefix = if version == 1 { 10 } else { 12 };
        let mut h = header.to_string();
        while !(prefix + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([version, 0]);
        if version == 1 {
            out.extend((h.len() as u16).to_le_bytes());
        } else {
            out.extend((h.len() as u32).to_le_bytes());
        }
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    fn f32_le(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_v1_v2_v3_c_and_fortran() {
        let data = f32_le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        for v in [1, 2, 3] {
            let b = npy_bytes(
                v,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            );
            assert_eq!(
                parse("m", "w", &b).unwrap(),
                Tensor::from_f32(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap()
            );
        }
        let b = npy_bytes(
            1,
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &data,
        );
        assert_eq!(
            parse("m", "w", &b).unwrap(),
            Tensor::from_f32(&[2, 3], vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]).unwrap()
        );
    }

    #[test]
    fn reads_big_endian_scalars_and_ints() {
        let b = npy_bytes(
            1,
            "{'descr': '>f8', 'fortran_order': False, 'shape': (), }",
            &2.5f64.to_be_bytes(),
        );
        assert_eq!(
            parse("m", "w", &b).unwrap(),
            Tensor::F64(ndarray::arr0(2.5).into_dyn())
        );
        let b = npy_bytes(
            1,
            "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3,)}",
            &[0, 128, 255],
        );
        assert_eq!(
            parse("m", "w", &b).unwrap(),
            Tensor::from_i64(&[3], vec![0, 128, 255]).unwrap()
        );
        let b = npy_bytes(
            1,
            "{'descr': '<f2', 'fortran_order': False, 'shape': (1L,), }",
            &[0x00, 0xc0],
        );
        assert_eq!(
            parse("m", "w", &b).unwrap(),
            Tensor::from_f32(&[1], vec![-2.0]).unwrap()
        );
    }

    #[test]
    fn corrupt_files_get_codes() {
        let data = f32_le(&[1.0, 2.0]);
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
        // Truncated data.
        let b = npy_bytes(1, ok, &data[..7]);
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0304");
        // Truncated header.
        let b = npy_bytes(1, ok, &data);
        assert_eq!(parse("m", "w", &b[..30]).unwrap_err().code(), "TL0302");
        assert_eq!(
            parse("m", "w", b"not an npy file").unwrap_err().code(),
            "TL0302"
        );
        // Unknown dtype, structured dtype.
        let b = npy_bytes(
            1,
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
            &data,
        );
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0303");
        let b = npy_bytes(
            1,
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
            &data,
        );
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0303");
        // Dims whose product overflows, and a dim above u64.
        let b = npy_bytes(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }",
            &data,
        );
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0305");
        let b = npy_bytes(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
            &data,
        );
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0302");
        // Missing key, extra key, bad version, odd UTF-8.
        let b = npy_bytes(1, "{'descr': '<f4', 'shape': (2,), }", &data);
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0302");
        let b = npy_bytes(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': True}",
            &data,
        );
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0302");
        let mut b = npy_bytes(1, ok, &data);
        b[6] = 9;
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0302");
        let mut b = npy_bytes(1, ok, &data);
        b[12] = 0xff;
        assert_eq!(parse("m", "w", &b).unwrap_err().code(), "TL0302");
    }

    #[test]
    fn header_only_reads_and_checks_length() {
        let dir = std::env::temp_dir().join(format!("tl-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fc1.npy");
        let b = npy_bytes(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }",
            &[0u8; 16],
        );
        std::fs::write(&path, &b).unwrap();
        let h = read_header(&path).unwrap();
        assert_eq!(
            h.info,
            TensorInfo {
                name: "fc1".into(),
                dtype: DType::I64,
                shape: vec![2, 1]
            }
        );
        assert_eq!(
            read(&path).unwrap(),
            Tensor::from_i64(&[2, 1], vec![0, 0]).unwrap()
        );
        std::fs::write(&path, &b[..b.len() - 1]).unwrap();
        assert_eq!(read_header(&path).unwrap_err().code(), "TL0304");
        assert_eq!(
            read_header(&dir.join("missing.npy")).unwrap_err().code(),
            "TL0301"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
