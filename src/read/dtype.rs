//! Interpreting an `.npy` `descr` (such as `'<f4'`) as one of the dtypes we
//! read, or refusing it by its numpy name.

use super::header::Value;
use super::Fail;

/// Byte order of the stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    const NATIVE: Endian = if cfg!(target_endian = "big") {
        Endian::Big
    } else {
        Endian::Little
    };
}

/// The dtypes we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// IEEE float of 2, 4 or 8 bytes.
    Float,
    /// Signed integer of 1, 2, 4 or 8 bytes.
    Int,
    /// Unsigned integer of 1, 2, 4 or 8 bytes.
    Uint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dtype {
    pub kind: Kind,
    /// Bytes per value.
    pub size: usize,
    pub endian: Endian,
}

/// What a caller accepts, for the "expected ..." half of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Float,
    Int,
    /// Either (the readiness check does not know what the file is for).
    Number,
}

impl Want {
    fn expected(self) -> &'static str {
        match self {
            Want::Float => "expected float16/32/64",
            Want::Int => "expected an integer dtype: int8/16/32/64 or uint8/16/32/64",
            Want::Number => "expected float16/32/64 or an integer dtype",
        }
    }

    fn accepts(self, kind: Kind) -> bool {
        match self {
            Want::Float => kind == Kind::Float,
            Want::Int => kind != Kind::Float,
            Want::Number => true,
        }
    }
}

impl Dtype {
    /// numpy's name for it, e.g. `float32`, `uint8`.
    pub fn name(self) -> String {
        let bits = self.size * 8;
        match self.kind {
            Kind::Float => format!("float{bits}"),
            Kind::Int => format!("int{bits}"),
            Kind::Uint => format!("uint{bits}"),
        }
    }

    /// Interpret `descr`, refusing anything `want` does not cover.
    pub fn from_descr(descr: &Value, want: Want) -> Result<Dtype, Fail> {
        let text = match descr {
            Value::Str(s) => s.as_str(),
            Value::List(_) => {
                return Err(Fail::Unsupported(format!(
                    "structured dtype (a list of fields) is not supported ({})",
                    want.expected()
                )))
            }
            v => {
                return Err(Fail::Corrupt(format!(
                    "'descr' is {v:?}, not a dtype string"
                )))
            }
        };
        let (order, code) = match text.as_bytes().first() {
            Some(&c @ (b'<' | b'>' | b'=' | b'|')) => (Some(c), &text[1..]),
            _ => (None, text),
        };
        let refuse = |name: &str| {
            Fail::Unsupported(format!(
                "dtype {name} ('{text}') is not supported ({})",
                want.expected()
            ))
        };
        let (kind, size) = match code {
            "f2" => (Kind::Float, 2),
            "f4" => (Kind::Float, 4),
            "f8" => (Kind::Float, 8),
            "i1" => (Kind::Int, 1),
            "i2" => (Kind::Int, 2),
            "i4" => (Kind::Int, 4),
            "i8" => (Kind::Int, 8),
            "u1" => (Kind::Uint, 1),
            "u2" => (Kind::Uint, 2),
            "u4" => (Kind::Uint, 4),
            "u8" => (Kind::Uint, 8),
            _ => return Err(refuse(&unsupported_name(code))),
        };
        let dtype = Dtype {
            kind,
            size,
            endian: match order {
                Some(b'>') => Endian::Big,
                Some(b'<') => Endian::Little,
                // '|' means "byte order does not apply": only true of 1 byte.
                Some(b'|') if size > 1 => {
                    return Err(Fail::Corrupt(format!(
                        "dtype '{text}' has {size}-byte values but no byte order"
                    )))
                }
                _ => Endian::NATIVE,
            },
        };
        if !want.accepts(kind) {
            return Err(refuse(&dtype.name()));
        }
        Ok(dtype)
    }
}

/// numpy's name for a type code we do not read, for the error message.
fn unsupported_name(code: &str) -> String {
    let (letters, digits) = code.split_at(
        code.find(|c: char| !c.is_ascii_alphabetic() && c != '?')
            .unwrap_or(code.len()),
    );
    let bits = |bytes: &str| bytes.parse::<usize>().map(|b| b * 8).ok();
    match (letters, bits(digits)) {
        ("O", _) => "object".into(),
        ("?", _) | ("b", Some(8)) => "bool".into(),
        ("S" | "a", _) => format!("bytes (S{digits})"),
        ("U", _) => format!("str (U{digits})"),
        ("V", _) => format!("void (V{digits})"),
        ("c", Some(b)) => format!("complex{b}"),
        ("f", Some(b)) => format!("float{b}"),
        ("i", Some(b)) => format!("int{b}"),
        ("u", Some(b)) => format!("uint{b}"),
        ("M", _) => "datetime64".into(),
        ("m", _) => "timedelta64".into(),
        _ => format!("'{code}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(descr: &str, want: Want) -> Result<Dtype, Fail> {
        Dtype::from_descr(&Value::Str(descr.into()), want)
    }

    fn refused(descr: &str, want: Want) -> String {
        match dt(descr, want) {
            Err(Fail::Unsupported(d)) => d,
            other => panic!("{descr} should be Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn floats_in_every_byte_order() {
        let f4 = |endian| Dtype {
            kind: Kind::Float,
            size: 4,
            endian,
        };
        assert_eq!(dt("<f4", Want::Float).ok(), Some(f4(Endian::Little)));
        assert_eq!(dt(">f4", Want::Float).ok(), Some(f4(Endian::Big)));
        assert_eq!(dt("=f4", Want::Float).ok(), Some(f4(Endian::NATIVE)));
        assert_eq!(dt("f4", Want::Float).ok(), Some(f4(Endian::NATIVE)));
        assert_eq!(dt(">f2", Want::Float).map(|d| d.size).ok(), Some(2));
        assert_eq!(dt("<f8", Want::Float).map(|d| d.size).ok(), Some(8));
        assert!(matches!(dt("|f4", Want::Float), Err(Fail::Corrupt(_))));
    }

    #[test]
    fn integers_for_labels() {
        assert_eq!(
            dt("|u1", Want::Int).ok(),
            Some(Dtype {
                kind: Kind::Uint,
                size: 1,
                endian: Endian::NATIVE
            })
        );
        assert_eq!(
            dt(">i8", Want::Int).ok(),
            Some(Dtype {
                kind: Kind::Int,
                size: 8,
                endian: Endian::Big
            })
        );
    }

    #[test]
    fn refusals_name_the_dtype() {
        let f = Want::Float;
        assert_eq!(
            refused("<c16", f),
            "dtype complex128 ('<c16') is not supported (expected float16/32/64)"
        );
        assert!(refused("<c8", f).contains("complex64"));
        assert!(refused("|O", f).contains("object"));
        assert!(refused("|b1", f).contains("bool"));
        assert!(refused("?", f).contains("bool"));
        assert!(refused("|S10", f).contains("bytes (S10)"));
        assert!(refused("<U7", f).contains("str (U7)"));
        assert!(refused("<f16", f).contains("float128"));
        assert!(refused("<M8[s]", f).contains("datetime64"));
        assert!(refused("<i8", f).contains("int64"));
        assert!(refused("<f4", Want::Int).contains("float32"));
        assert!(refused("<f4", Want::Int).contains("integer"));
        assert!(refused("zz", f).contains("'zz'"));
    }

    #[test]
    fn structured_is_refused() {
        let descr = Value::List(vec![Value::Tuple(vec![
            Value::Str("a".into()),
            Value::Str("<f4".into()),
        ])]);
        assert!(matches!(
            Dtype::from_descr(&descr, Want::Float),
            Err(Fail::Unsupported(d)) if d.contains("structured")
        ));
    }
}
