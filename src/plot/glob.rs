//! `--runs GLOB`: `*` (any characters, `/` included, since run names are
//! paths below ROOT such as `cifar10/simclr-s0`) and `?` (one character),
//! matched against the whole run name. No character classes, no escapes.

/// Whether `name` matches `pattern` as a whole.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // The last `*` seen and the name position it currently covers up to:
    // on a mismatch, let it cover one more character and retry (linear
    // backtracking, enough because `*` is the only variable-length token).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn star_and_question_mark_match_the_whole_name() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "cifar10/simclr-s0"));
        assert!(glob_match("simclr*", "simclr-s0"));
        assert!(!glob_match("simclr*", "moco-simclr"));
        assert!(glob_match("*s0", "cifar10/simclr-s0"));
        assert!(glob_match("*/simclr-s?", "cifar10/simclr-s1"));
        assert!(!glob_match("*/simclr-s?", "cifar10/simclr-s10"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("**x", "x"));
        assert!(!glob_match("", "x"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("実?", "実験"));
    }
}
