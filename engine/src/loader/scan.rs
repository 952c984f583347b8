//! A lexical scan of JavaScript that is just precise enough to find
//! statements by their first tokens: it skips strings, comments, template
//! literals (with nested `${…}`) and regular-expression literals, and tracks
//! brace depth. It never evaluates anything; meta is evaluated in the sandbox.

/// One token the loader cares about. Everything else is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An identifier or keyword.
    Ident { name: String, start: usize, depth: usize },
    /// One punctuation character.
    Punct { ch: char, start: usize, depth: usize },
    /// A string, template, number or regex literal (contents skipped).
    Literal { start: usize },
}

impl Token {
    pub fn start(&self) -> usize {
        match self {
            Token::Ident { start, .. } | Token::Punct { start, .. } | Token::Literal { start } => *start,
        }
    }

    pub fn is_ident(&self, want: &str) -> bool {
        matches!(self, Token::Ident { name, .. } if name == want)
    }

    pub fn is_punct(&self, want: char) -> bool {
        matches!(self, Token::Punct { ch, .. } if *ch == want)
    }
}

/// Why the scan could not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub offset: usize,
    pub message: &'static str,
}

/// Keywords after which a `/` starts a regular expression, not a division.
const REGEX_AFTER_KEYWORD: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// Tokenises `src`; offsets are byte offsets into it.
pub fn tokens(src: &str) -> Result<Vec<Token>, ScanError> {
    Scanner { src: src.as_bytes(), pos: 0, depth: 0, templates: Vec::new(), out: Vec::new() }.run()
}

struct Scanner<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
    /// Brace depths at which an open `${` of a template literal resumes.
    templates: Vec<usize>,
    out: Vec<Token>,
}

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    fn run(mut self) -> Result<Vec<Token>, ScanError> {
        if self.src.starts_with(b"#!") {
            self.skip_line();
        }
        while let Some(b) = self.peek(0) {
            let start = self.pos;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment()?,
                b'/' if self.regex_allowed() => {
                    self.skip_regex()?;
                    self.out.push(Token::Literal { start });
                }
                b'\'' | b'"' => {
                    self.skip_string(b)?;
                    self.out.push(Token::Literal { start });
                }
                b'`' => {
                    self.pos += 1;
                    self.out.push(Token::Literal { start });
                    self.skip_template()?;
                }
                b'{' => {
                    self.punct(b'{');
                    self.depth += 1;
                }
                b'}' => {
                    if self.templates.last() == Some(&self.depth) {
                        self.templates.pop();
                        self.pos += 1;
                        self.skip_template()?;
                    } else {
                        self.depth = self.depth.saturating_sub(1);
                        self.punct(b'}');
                    }
                }
                b'0'..=b'9' => {
                    while self.peek(0).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_') {
                        self.pos += 1;
                    }
                    self.out.push(Token::Literal { start });
                }
                b'.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                    self.pos += 1;
                    while self.peek(0).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        self.pos += 1;
                    }
                    self.out.push(Token::Literal { start });
                }
                c if is_ident_byte(c) => {
                    while self.peek(0).is_some_and(is_ident_byte) {
                        self.pos += 1;
                    }
                    let name = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                    self.out.push(Token::Ident { name, start, depth: self.depth });
                }
                c => self.punct(c),
            }
        }
        if !self.templates.is_empty() {
            return Err(ScanError { offset: self.pos, message: "unterminated template literal" });
        }
        Ok(self.out)
    }

    fn punct(&mut self, c: u8) {
        let start = self.pos;
        self.pos += 1;
        self.out.push(Token::Punct { ch: c as char, start, depth: self.depth });
    }

    fn regex_allowed(&self) -> bool {
        match self.out.last() {
            None => true,
            Some(Token::Literal { .. }) => false,
            Some(Token::Ident { name, .. }) => REGEX_AFTER_KEYWORD.contains(&name.as_str()),
            Some(Token::Punct { ch, .. }) => !matches!(ch, ')' | ']'),
        }
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|c| c != b'\n') {
            self.pos += 1;
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        self.pos += 2;
        while self.pos + 1 < self.src.len() {
            if self.src[self.pos] == b'*' && self.src[self.pos + 1] == b'/' {
                self.pos += 2;
                return Ok(());
            }
            self.pos += 1;
        }
        Err(ScanError { offset: start, message: "unterminated comment" })
    }

    fn skip_string(&mut self, quote: u8) -> Result<(), ScanError> {
        let start = self.pos;
        self.pos += 1;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'\n' => break,
                c if c == quote => return Ok(()),
                _ => {}
            }
        }
        Err(ScanError { offset: start, message: "unterminated string literal" })
    }

    /// Skips template text up to the closing backtick or an opening `${`.
    fn skip_template(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        while let Some(c) = self.peek(0) {
            match c {
                b'\\' => self.pos += 2,
                b'`' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.pos += 2;
                    self.templates.push(self.depth);
                    return Ok(());
                }
                _ => self.pos += 1,
            }
        }
        Err(ScanError { offset: start.saturating_sub(1), message: "unterminated template literal" })
    }

    fn skip_regex(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        self.pos += 1;
        let mut in_class = false;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'[' => in_class = true,
                b']' => in_class = false,
                b'/' if !in_class => {
                    while self.peek(0).is_some_and(is_ident_byte) {
                        self.pos += 1;
                    }
                    return Ok(());
                }
                b'\n' => break,
                _ => {}
            }
        }
        Err(ScanError { offset: start, message: "unterminated regular expression" })
    }
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        tokens(src)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Token::Ident { name, .. } => Some(name),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn skips_strings_comments_and_regexes() {
        let src = r#"
            // import x from 'y'
            /* export default 1 */
            const a = "import 'q'"; const b = 'export';
            const r = /import\/[a-z/]+/g.test(s);
            x = a / b / c;
        "#;
        assert_eq!(idents(src), ["const", "a", "const", "b", "const", "r", "test", "s", "x", "a", "b", "c"]);
    }

    #[test]
    fn templates_nest_and_keep_their_expressions() {
        let src = "const t = `a ${ {k: `in ${deep}`}.k } import ${x}`; after";
        assert_eq!(idents(src), ["const", "t", "k", "deep", "k", "x", "after"]);
    }

    #[test]
    fn brace_depth_is_tracked_through_templates() {
        let toks = tokens("f(`${ {a:1} }`); { inner }").unwrap();
        let inner = toks.iter().find(|t| t.is_ident("inner")).unwrap();
        assert!(matches!(inner, Token::Ident { depth: 1, .. }));
    }

    #[test]
    fn reports_unterminated_literals() {
        assert_eq!(tokens("x = 'abc").unwrap_err().message, "unterminated string literal");
        assert_eq!(tokens("x = `abc").unwrap_err().message, "unterminated template literal");
        assert_eq!(tokens("/* abc").unwrap_err().message, "unterminated comment");
    }
}
