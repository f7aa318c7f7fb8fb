//! The `.npy` preamble (magic, version, header length) and its header, a
//! Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! The dict is parsed by hand (no `eval`): strings, integers, booleans,
//! `None`, tuples and lists, with any whitespace and trailing commas.

use super::Fail;
use std::io::Read;

/// The magic string every `.npy` file starts with.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Headers longer than this are refused: numpy's own reader stops at 10 kB
/// by default, and ours only ever need a few hundred bytes.
const MAX_HEADER_LEN: u64 = 1 << 20;

/// Deepest nesting of tuples/lists we follow (a structured dtype needs 3).
const MAX_DEPTH: usize = 32;

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    /// The `descr` value: a string for plain dtypes, a list for structured.
    pub descr: Value,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Bytes before the data: magic, version, length field and dict.
    pub len: u64,
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Value>),
    List(Vec<Value>),
}

/// Where the dict starts and how long it is, from the first 10 or 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Preamble {
    pub major: u8,
    /// Magic + version + length field: 10 (v1) or 12 (v2, v3).
    pub len: u64,
    pub dict_len: u64,
}

/// Parse the preamble from the first bytes of a stream. `bytes` may be
/// shorter than the preamble: a prefix of a valid one is `Incomplete`.
pub(crate) fn parse_preamble(bytes: &[u8]) -> Result<Preamble, Fail> {
    if bytes.is_empty() {
        return Err(Fail::Incomplete("file is empty".into()));
    }
    let magic_seen = bytes.len().min(MAGIC.len());
    if bytes[..magic_seen] != MAGIC[..magic_seen] {
        return Err(Fail::Corrupt(format!(
            "not an .npy file (bad magic {:02x?}, expected {:02x?})",
            &bytes[..magic_seen],
            MAGIC
        )));
    }
    if bytes.len() < 8 {
        return Err(Fail::Incomplete(format!(
            "file has {} bytes, cut inside the .npy preamble",
            bytes.len()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let field_len = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(Fail::Unsupported(format!(
                "npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"
            )))
        }
    };
    let len = 8 + field_len;
    if bytes.len() < len {
        return Err(Fail::Incomplete(format!(
            "file has {} bytes, cut inside the .npy preamble",
            bytes.len()
        )));
    }
    let dict_len = if field_len == 2 {
        u64::from(u16::from_le_bytes([bytes[8], bytes[9]]))
    } else {
        u64::from(u32::from_le_bytes([
            bytes[8], bytes[9], bytes[10], bytes[11],
        ]))
    };
    Ok(Preamble {
        major,
        len: len as u64,
        dict_len,
    })
}

/// Read and parse the header from the start of a stream holding `total`
/// bytes. Reads only the header; allocates at most its (capped) length.
pub(crate) fn read_header<R: Read>(r: &mut R, total: u64) -> Result<Header, Fail> {
    let mut start = Vec::with_capacity(12);
    read_up_to(r, 12.min(total), &mut start)?;
    let pre = parse_preamble(&start)?;
    if pre.dict_len > MAX_HEADER_LEN {
        return Err(Fail::Corrupt(format!(
            "header claims {} bytes, more than the {MAX_HEADER_LEN} accepted",
            pre.dict_len
        )));
    }
    let header_len = pre.len + pre.dict_len;
    if total < header_len {
        return Err(Fail::Incomplete(format!(
            "file has {total} bytes, cut inside its {header_len}-byte header"
        )));
    }
    // Bytes of the dict already read with the (up to 12-byte) preamble.
    let mut dict = start.split_off(pre.len.min(start.len() as u64) as usize);
    read_up_to(r, pre.dict_len.saturating_sub(dict.len() as u64), &mut dict)?;
    if (dict.len() as u64) < pre.dict_len {
        return Err(Fail::Incomplete(format!(
            "file ended inside its {header_len}-byte header"
        )));
    }
    dict.truncate(pre.dict_len as usize);
    let text = decode_text(&dict, pre.major)?;
    let mut h = parse_dict(&text)?;
    h.len = header_len;
    Ok(h)
}

/// Append up to `n` bytes from `r` to `out`, stopping early only at EOF.
fn read_up_to<R: Read>(r: &mut R, n: u64, out: &mut Vec<u8>) -> Result<(), Fail> {
    r.take(n).read_to_end(out).map_err(Fail::Io)?;
    Ok(())
}

/// Versions 1 and 2 are latin-1, version 3 is UTF-8.
fn decode_text(bytes: &[u8], major: u8) -> Result<String, Fail> {
    if major >= 3 {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Fail::Corrupt("header is not valid UTF-8".into()))
    } else {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// Parse the header dict text into its three keys (the length is left 0).
pub(crate) fn parse_dict(text: &str) -> Result<Header, Fail> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let entries = p.dict()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the closing '}'"));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return Err(corrupt(format!("unexpected key '{other}' in header"))),
        };
        if slot.replace(value).is_some() {
            return Err(corrupt(format!("key '{key}' appears twice in header")));
        }
    }
    let missing = |k: &str| corrupt(format!("header has no '{k}' key"));
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Value::Bool(b) => b,
        v => return Err(corrupt(format!("'fortran_order' is {v:?}, not True/False"))),
    };
    let shape = match shape.ok_or_else(|| missing("shape"))? {
        Value::Tuple(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Int(n) => Ok(n),
                v => Err(corrupt(format!("shape entry {v:?} is not an integer"))),
            })
            .collect::<Result<Vec<u64>, Fail>>()?,
        v => return Err(corrupt(format!("'shape' is {v:?}, not a tuple"))),
    };
    Ok(Header {
        descr,
        fortran_order,
        shape,
        len: 0,
    })
}

fn corrupt(detail: String) -> Fail {
    Fail::Corrupt(detail)
}

/// Recursive-descent parser over the header bytes.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Fail {
        corrupt(format!("bad header dict: {what} at byte {}", self.i))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>, Fail> {
        if !self.eat(b'{') {
            return Err(self.err("expected '{'"));
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                return Ok(out);
            }
            let key = match self.value(1)? {
                Value::Str(k) => k,
                v => return Err(corrupt(format!("header key {v:?} is not a string"))),
            };
            if !self.eat(b':') {
                return Err(self.err("expected ':'"));
            }
            let value = self.value(1)?;
            out.push((key, value));
            if !self.eat(b',') {
                if self.eat(b'}') {
                    return Ok(out);
                }
                return Err(self.err("expected ',' or '}'"));
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Fail> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'(') => {
                self.i += 1;
                self.sequence(b')', depth).map(Value::Tuple)
            }
            Some(b'[') => {
                self.i += 1;
                self.sequence(b']', depth).map(Value::List)
            }
            Some(b'0'..=b'9') => self.int(),
            Some(b'A'..=b'Z' | b'a'..=b'z') => {
                let start = self.i;
                while matches!(self.peek(), Some(b'A'..=b'Z' | b'a'..=b'z')) {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    b"None" => Ok(Value::None),
                    _ => {
                        self.i = start;
                        Err(self.err("unknown name"))
                    }
                }
            }
            Some(b'-') => Err(self.err("negative number")),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    /// Items up to `close`; a tuple or list may end with a trailing comma.
    fn sequence(&mut self, close: u8, depth: usize) -> Result<Vec<Value>, Fail> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            if !self.eat(b',') {
                if self.eat(close) {
                    return Ok(items);
                }
                return Err(self.err("expected ',' or a closing bracket"));
            }
        }
    }

    /// A decimal integer, with Python 2's optional `L` suffix.
    fn int(&mut self) -> Result<Value, Fail> {
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| self.err("integer too large"))?;
            self.i += 1;
        }
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.i += 1;
        }
        Ok(Value::Int(n))
    }

    /// A quoted string; `\\`, `\'` and `\"` are unescaped, other escapes kept.
    fn string(&mut self, quote: u8) -> Result<Value, Fail> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(c) if c == quote => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'\\' | b'\'' | b'"')) => out.push(c),
                        Some(c) => out.extend_from_slice(&[b'\\', c]),
                        None => return Err(self.err("unterminated string")),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out)
            .map(Value::Str)
            .map_err(|_| self.err("string is not valid text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(text: &str) -> Header {
        match parse_dict(text) {
            Ok(h) => h,
            Err(e) => panic!("{text:?} did not parse: {e:?}"),
        }
    }

    fn fails(text: &str) -> String {
        match parse_dict(text) {
            Err(Fail::Corrupt(d)) => d,
            other => panic!("{text:?} should be Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn parses_numpy_v1_header() {
        let h = dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }      \n");
        assert_eq!(h.descr, Value::Str("<f4".into()));
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![3, 4]);
    }

    #[test]
    fn keys_in_any_order_with_odd_whitespace_and_no_trailing_comma() {
        let h = dict("{ \"shape\" :(7,)  ,'fortran_order':True,\n'descr':\"|u1\"}");
        assert_eq!(h.descr, Value::Str("|u1".into()));
        assert!(h.fortran_order);
        assert_eq!(h.shape, vec![7]);
    }

    #[test]
    fn scalar_shape_and_python2_long_suffix() {
        assert_eq!(
            dict("{'descr':'<f8','fortran_order':False,'shape':()}").shape,
            Vec::<u64>::new()
        );
        assert_eq!(
            dict("{'descr':'<f8','fortran_order':False,'shape':(2L, 5L)}").shape,
            vec![2, 5]
        );
    }

    #[test]
    fn structured_descr_is_a_list() {
        let h = dict("{'descr': [('a', '<f4'), ('b', '<i8', (2,))], 'fortran_order': False, 'shape': (3,), }");
        assert_eq!(
            h.descr,
            Value::List(vec![
                Value::Tuple(vec![Value::Str("a".into()), Value::Str("<f4".into())]),
                Value::Tuple(vec![
                    Value::Str("b".into()),
                    Value::Str("<i8".into()),
                    Value::Tuple(vec![Value::Int(2)]),
                ]),
            ])
        );
    }

    #[test]
    fn missing_duplicate_and_unknown_keys_are_refused() {
        assert!(fails("{'descr':'<f4','shape':(1,2)}").contains("'fortran_order'"));
        assert!(
            fails("{'descr':'<f4','descr':'<f8','fortran_order':False,'shape':(1,)}")
                .contains("twice")
        );
        assert!(fails("{'descr':'<f4','fortran_order':False,'shape':(1,),'x':1}").contains("'x'"));
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(fails("{'descr':'<f4','fortran_order':0,'shape':(1,)}").contains("fortran_order"));
        assert!(fails("{'descr':'<f4','fortran_order':False,'shape':[1]}").contains("shape"));
        assert!(fails("{'descr':'<f4','fortran_order':False,'shape':(-1,)}").contains("negative"));
        assert!(fails("{'descr':'<f4','fortran_order':False,'shape':(1,2,'a')}").contains("shape"));
        assert!(
            fails("{'descr':'<f4','fortran_order':False,'shape':(99999999999999999999,)}")
                .contains("too large")
        );
        assert!(fails("{'descr':'<f4' 'fortran_order':False}").contains("expected ','"));
        assert!(fails("{'descr':'<f4").contains("unterminated"));
        assert!(fails("{'descr':'<f4','fortran_order':False,'shape':(1,)} junk").contains("after"));
        assert!(
            fails("{'descr':'<f4','fortran_order':Maybe,'shape':(1,)}").contains("unknown name")
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_forever() {
        let text = format!("{{'descr':{}", "(".repeat(10_000));
        assert!(fails(&text).contains("nested too deeply"));
    }

    #[test]
    fn preamble_prefixes_are_incomplete_and_bad_magic_is_corrupt() {
        let full = b"\x93NUMPY\x01\x00\x76\x00";
        for cut in 0..full.len() {
            assert!(
                matches!(parse_preamble(&full[..cut]), Err(Fail::Incomplete(_))),
                "prefix of {cut} bytes"
            );
        }
        assert_eq!(
            parse_preamble(full).ok(),
            Some(Preamble {
                major: 1,
                len: 10,
                dict_len: 0x76
            })
        );
        assert!(matches!(
            parse_preamble(b"\x93NUMPZ"),
            Err(Fail::Corrupt(_))
        ));
        assert!(matches!(parse_preamble(b"PK"), Err(Fail::Corrupt(_))));
    }

    #[test]
    fn preamble_versions() {
        let v2 = b"\x93NUMPY\x02\x00\x00\x01\x01\x00";
        assert_eq!(
            parse_preamble(v2).ok(),
            Some(Preamble {
                major: 2,
                len: 12,
                dict_len: 0x0001_0100
            })
        );
        assert!(matches!(
            parse_preamble(&v2[..11]),
            Err(Fail::Incomplete(_))
        ));
        match parse_preamble(b"\x93NUMPY\x04\x00\x10\x00") {
            Err(Fail::Unsupported(d)) => assert!(d.contains("4.0"), "{d}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn read_header_reports_cut_header_as_incomplete() {
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        let h = read_header(&mut &bytes[..], bytes.len() as u64 + 24);
        assert_eq!(
            h.as_ref().map(|h| (h.len, h.shape.clone())).ok(),
            Some((bytes.len() as u64, vec![2, 3]))
        );
        for cut in [0, 5, 9, 10, 30, bytes.len() - 1] {
            let r = read_header(&mut &bytes[..cut], cut as u64);
            assert!(matches!(r, Err(Fail::Incomplete(_))), "cut at {cut}: {r:?}");
        }
    }
}
