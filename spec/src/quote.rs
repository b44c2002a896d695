//! Go's `strconv.Quote` (what `%q` prints), so validation messages match the reference
//! byte for byte.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Quotes `s` as Go's `strconv.Quote` (and so `%q`) does.
///
/// Printable characters (Unicode letters, marks, numbers, punctuation, symbols and the ASCII
/// space) stay as they are; the Unicode tables may be a version ahead of Go's, which only
/// matters for newly assigned characters.
pub(crate) fn go_quote(s: &str) -> String {
    use std::fmt::Write as _;

    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            // Writing to a String cannot fail.
            _ if c < ' ' || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            _ if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`: categories L, M, N, P, S, plus the ASCII space.
fn go_is_print(c: char) -> bool {
    c == ' '
        || matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter
                | GeneralCategoryGroup::Mark
                | GeneralCategoryGroup::Number
                | GeneralCategoryGroup::Punctuation
                | GeneralCategoryGroup::Symbol
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_strconv_quote() {
        let cases = [
            ("", r#""""#),
            ("events.topic.exchange", r#""events.topic.exchange""#),
            ("a b", r#""a b""#),
            ("say \"hi\"", r#""say \"hi\"""#),
            ("back\\slash", r#""back\\slash""#),
            ("tab\there", r#""tab\there""#),
            ("lf\ncr\r", r#""lf\ncr\r""#),
            ("\u{7}\u{8}\u{c}\u{b}", r#""\a\b\f\v""#),
            ("\u{0}\u{1f}\u{7f}", r#""\x00\x1f\x7f""#),
            ("\u{80}\u{a0}\u{ad}", r#""\u0080\u00a0\u00ad""#),
            ("\u{2028}\u{200b}\u{feff}", r#""\u2028\u200b\ufeff""#),
            ("\u{e000}\u{f0000}", r#""\ue000\U000f0000""#),
            ("\u{10ffff}", r#""\U0010ffff""#),
            ("héllo wörld €", r#""héllo wörld €""#),
            ("日本語 😀", r#""日本語 😀""#),
            ("e\u{301}", "\"e\u{301}\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "input {input:?}");
        }
    }
}
