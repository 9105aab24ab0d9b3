//! Go regular expressions, as Traefik compiles them, rewritten for the `regex` crate.
//!
//! Traefik compiles the arguments of `HostRegexp`, `PathRegexp`, `HeaderRegexp` and `QueryRegexp`
//! with Go's `regexp` package (RE2 syntax). The `regex` crate reads a close but different
//! language, and every difference changes which requests a route serves:
//!
//! - a `{` that does not start a valid repetition is a literal in Go (`/{id}`, `x{,3}`, `x{01}`)
//!   and an error in the regex crate; counts above 1000, and nested counts whose product exceeds
//!   1000, are refused by Go only;
//! - `\d \w \s \b \B` are ASCII in Go and Unicode in the regex crate (`\d` would match `٣`);
//!   Go's `\s` has no `\v`;
//! - `\Q…\E` quoting and octal escapes exist only in Go; `\<`, `\>`, `(?x)`, `a**`, `a*+` and
//!   nested classes or class set operations (`[a[b]]`, `[a&&b]`) exist only in the regex crate.
//!
//! The translator reads a pattern with Go's grammar, refuses what Go refuses, and writes a
//! pattern with the same meaning in the regex crate's syntax: literals and class members are
//! written as `\x{…}` escapes, Perl classes as explicit ASCII ranges, word boundaries as
//! `(?-u:\b)`, groups do not capture (only `is_match` is used) except in the capturing mode for replacements. `.` and Unicode classes keep
//! matching code points, as in Go. It works on untrusted text: no recursion, no indexing that can
//! panic, and nesting is bounded like Go's.

use std::fmt::Write;

/// Go refuses repetition counts above this, and nested counts whose product exceeds it.
const MAX_REPEAT: u64 = 1000;

/// Go refuses expressions nested deeper than this.
const MAX_NESTING: usize = 1000;

/// A pattern Go's `regexp` package refuses; `message` follows Go's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoSyntaxError {
    pub(crate) message: String,
}

impl GoSyntaxError {
    fn new(what: &str, expr: &str) -> Self {
        Self {
            message: format!("{what}: `{expr}`"),
        }
    }
}

/// Rewrites Go pattern `pattern` into the regex crate's syntax.
pub(crate) fn translate(pattern: &str) -> Result<String, GoSyntaxError> {
    translate_with(pattern, false)
}

/// Like `translate` (the non-capturing rewrite), but groups keep capturing, with their names, so that a replacement's
/// `$1` and `${name}` (the same syntax in both libraries) refer to the same text as in Go.
pub fn translate_capturing(pattern: &str) -> Result<String, String> {
    translate_with(pattern, true).map_err(|e| e.message)
}

fn translate_with(pattern: &str, captures: bool) -> Result<String, GoSyntaxError> {
    let mut t = Translator {
        src: pattern,
        pos: 0,
        out: String::with_capacity(pattern.len() * 2),
        root: Frame::new(),
        frames: Vec::new(),
        captures,
    };
    t.run()?;
    Ok(t.out)
}

/// What a repetition operator at the current position would apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of the pattern, of a group or of an alternative.
    Nothing,
    Atom,
    /// A repetition: Go refuses to stack another one on it (`a**`).
    Repeat,
}

/// An open group.
#[derive(Debug)]
struct Frame {
    last: Last,
    /// Repetition weight of the last item: the largest product of counted repetitions on a path
    /// from it down to a leaf, as Go's `repeatIsValid` walks it.
    last_weight: u64,
    /// Largest weight among the items already complete in this group.
    weight: u64,
    /// Where flag-only groups written since the last item start in the output: Go applies a
    /// following repetition to the item before them (`a(?i)*` is `a*` then `(?i)`).
    flags_at: Option<usize>,
}

impl Frame {
    fn new() -> Self {
        Self {
            last: Last::Nothing,
            last_weight: 1,
            weight: 1,
            flags_at: None,
        }
    }
}

struct Translator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    /// The pattern itself, and the groups open inside it.
    root: Frame,
    frames: Vec<Frame>,
    /// Keep groups capturing (replacements) instead of turning them into `(?:` (matching).
    captures: bool,
}

impl<'a> Translator<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Source text from byte `start` to the current position, for error messages.
    fn since(&self, start: usize) -> &str {
        self.src.get(start..self.pos).unwrap_or_default()
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().unwrap_or(&mut self.root)
    }

    /// Folds the last item into its group's weight: it can no longer be repeated.
    fn commit(&mut self) {
        let frame = self.frame();
        frame.weight = frame.weight.max(frame.last_weight);
        frame.last_weight = 1;
    }

    /// Writes a new item.
    fn atom(&mut self, text: &str) {
        self.commit();
        self.out.push_str(text);
        let frame = self.frame();
        frame.last = Last::Atom;
        frame.last_weight = 1;
        frame.flags_at = None;
    }

    fn run(&mut self) -> Result<(), GoSyntaxError> {
        while let Some(c) = self.peek() {
            match c {
                '(' => self.open_group()?,
                ')' => self.close_group()?,
                '|' => {
                    self.bump();
                    self.commit();
                    self.out.push('|');
                    let frame = self.frame();
                    frame.last = Last::Nothing;
                    frame.flags_at = None;
                }
                '^' | '$' | '.' => {
                    self.bump();
                    self.atom(c.encode_utf8(&mut [0; 4]));
                }
                '[' => {
                    let class = self.class()?;
                    self.atom(&class);
                }
                '*' | '+' | '?' => {
                    let start = self.pos;
                    self.bump();
                    self.repeat(start, c.encode_utf8(&mut [0; 4]), None)?;
                }
                '{' => self.brace()?,
                '\\' => self.escape()?,
                _ => {
                    self.bump();
                    self.atom(&literal(c));
                }
            }
        }
        if !self.frames.is_empty() {
            return Err(GoSyntaxError::new("missing closing )", self.src));
        }
        Ok(())
    }

    fn open_group(&mut self) -> Result<(), GoSyntaxError> {
        let start = self.pos;
        self.bump();
        if self.peek() != Some('?') {
            return self.push_group(if self.captures { "(" } else { "(?:" });
        }
        let rest = self.rest();
        let named = if rest.starts_with("?P<") && rest.len() > 3 {
            Some(3)
        } else if rest.starts_with("?<") && rest.len() > 2 {
            Some(2)
        } else {
            None
        };
        if let Some(begin) = named {
            let Some(end) = rest.find('>') else {
                return Err(GoSyntaxError::new(
                    "invalid named capture",
                    self.src.get(start..).unwrap_or_default(),
                ));
            };
            let name = rest.get(begin..end).unwrap_or_default();
            self.pos += end + 1;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(GoSyntaxError::new(
                    "invalid named capture",
                    self.since(start),
                ));
            }
            if self.captures {
                return self.push_group(&format!("(?P<{name}>"));
            }
            return self.push_group("(?:");
        }
        self.bump();
        self.flags(start)
    }

    /// `(?flags)` or `(?flags:`, after the `(?`.
    fn flags(&mut self, start: usize) -> Result<(), GoSyntaxError> {
        // Net effect per flag, in the order i m s U: Some(true) set, Some(false) cleared.
        let mut state: [Option<bool>; 4] = [None; 4];
        let mut negated = false;
        let mut saw_flag = false;
        while let Some(c) = self.bump() {
            let slot = match c {
                'i' => 0,
                'm' => 1,
                's' => 2,
                'U' => 3,
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                    continue;
                }
                // `(?-)` and `(?i-)` name no flag to clear: Go refuses them.
                ':' | ')' if !negated || saw_flag => {
                    let text = flag_text(&state, c == ':');
                    if c == ':' {
                        return self.push_group(&text);
                    }
                    let at = self.out.len();
                    self.out.push_str(&text);
                    let frame = self.frame();
                    frame.flags_at.get_or_insert(at);
                    if frame.last == Last::Repeat {
                        frame.last = Last::Atom;
                    }
                    return Ok(());
                }
                _ => break,
            };
            if let Some(flag) = state.get_mut(slot) {
                *flag = Some(!negated);
            }
            saw_flag = true;
        }
        Err(GoSyntaxError::new(
            "invalid or unsupported Perl syntax",
            self.since(start),
        ))
    }

    fn push_group(&mut self, text: &str) -> Result<(), GoSyntaxError> {
        if self.frames.len() >= MAX_NESTING {
            return Err(GoSyntaxError::new("expression nests too deeply", self.src));
        }
        self.commit();
        self.out.push_str(text);
        let frame = self.frame();
        frame.flags_at = None;
        self.frames.push(Frame::new());
        Ok(())
    }

    fn close_group(&mut self) -> Result<(), GoSyntaxError> {
        self.bump();
        self.commit();
        let Some(group) = self.frames.pop() else {
            return Err(GoSyntaxError::new("unexpected )", self.src));
        };
        let weight = group.weight;
        self.out.push(')');
        let frame = self.frame();
        frame.last = Last::Atom;
        frame.last_weight = weight;
        frame.flags_at = None;
        Ok(())
    }

    /// A `{`: a counted repetition when it parses as one, as Go reads it, else a literal.
    fn brace(&mut self) -> Result<(), GoSyntaxError> {
        let start = self.pos;
        let Some((min, max, len)) = parse_repeat(self.rest()) else {
            self.bump();
            self.atom(&literal('{'));
            return Ok(());
        };
        self.pos += len;
        let (Some(min), Ok(max)) = (min, max) else {
            return Err(GoSyntaxError::new(
                "invalid repeat count",
                self.since(start),
            ));
        };
        if min > MAX_REPEAT || max.is_some_and(|max| max > MAX_REPEAT || min > max) {
            return Err(GoSyntaxError::new(
                "invalid repeat count",
                self.since(start),
            ));
        }
        let text = match max {
            Some(max) if max == min => format!("{{{min}}}"),
            Some(max) => format!("{{{min},{max}}}"),
            None => format!("{{{min},}}"),
        };
        self.repeat(start, &text, Some((min, max)))
    }

    /// Applies repetition operator `op` (already consumed, started at byte `start`) to the last
    /// item. `counted` holds the bounds of a `{…}` repetition.
    fn repeat(
        &mut self,
        start: usize,
        op: &str,
        counted: Option<(u64, Option<u64>)>,
    ) -> Result<(), GoSyntaxError> {
        let lazy = self.peek() == Some('?');
        if lazy {
            self.bump();
        }
        let (last, last_weight, flags_at) = {
            let frame = self.frame();
            (frame.last, frame.last_weight, frame.flags_at)
        };
        match last {
            Last::Repeat => {
                return Err(GoSyntaxError::new(
                    "invalid nested repetition operator",
                    self.since(start),
                ));
            }
            Last::Nothing => {
                return Err(GoSyntaxError::new(
                    "missing argument to repetition operator",
                    self.since(start),
                ));
            }
            Last::Atom => {}
        }
        let weight = match counted {
            None => last_weight,
            Some((_, Some(0))) => 1,
            Some((min, max)) => {
                let count = max.unwrap_or(min).max(1);
                let weight = count.saturating_mul(last_weight);
                if (min >= 2 || max.is_some_and(|m| m >= 2)) && weight > MAX_REPEAT {
                    return Err(GoSyntaxError::new(
                        "invalid repeat count",
                        self.since(start),
                    ));
                }
                weight
            }
        };
        let text = if lazy {
            format!("{op}?")
        } else {
            op.to_owned()
        };
        match flags_at {
            Some(at) if at <= self.out.len() => self.out.insert_str(at, &text),
            _ => self.out.push_str(&text),
        }
        let frame = self.frame();
        frame.last = Last::Repeat;
        frame.last_weight = weight;
        frame.flags_at = flags_at.map(|at| at + text.len());
        Ok(())
    }

    /// An escape outside a class.
    fn escape(&mut self) -> Result<(), GoSyntaxError> {
        let start = self.pos;
        match self.peek_at(1) {
            Some('A') => return self.assertion(r"\A"),
            Some('z') => return self.assertion(r"\z"),
            Some('b') => return self.assertion(r"(?-u:\b)"),
            Some('B') => return self.assertion(r"(?-u:\B)"),
            Some('C') => {
                self.pos += 2;
                return Err(GoSyntaxError::new(
                    "invalid escape sequence",
                    self.since(start),
                ));
            }
            Some('Q') => {
                self.pos += 2;
                let rest = self.rest();
                let (quoted, skip) = match rest.find(r"\E") {
                    Some(end) => (rest.get(..end).unwrap_or_default(), end + 2),
                    None => (rest, rest.len()),
                };
                let quoted = quoted.to_owned();
                self.pos += skip;
                for c in quoted.chars() {
                    self.atom(&literal(c));
                }
                return Ok(());
            }
            Some('p' | 'P') => {
                let class = self.unicode_class()?;
                self.atom(&class);
                return Ok(());
            }
            Some(c) => {
                if let Some(group) = perl_class(c) {
                    self.pos += 2;
                    self.atom(&group.standalone());
                    return Ok(());
                }
            }
            None => {}
        }
        let c = self.escaped_char()?;
        self.atom(&match surrogate_free(c) {
            Some(c) => literal(c),
            None => NOTHING.to_owned(),
        });
        Ok(())
    }

    fn assertion(&mut self, text: &str) -> Result<(), GoSyntaxError> {
        self.pos += 2;
        self.atom(text);
        Ok(())
    }

    /// Go's `parseEscape`: one escaped character, as a code point (which may be a surrogate).
    fn escaped_char(&mut self) -> Result<u32, GoSyntaxError> {
        let start = self.pos;
        self.bump();
        let Some(c) = self.bump() else {
            return Err(GoSyntaxError {
                message: "trailing backslash at end of expression".into(),
            });
        };
        let invalid = |t: &Self| GoSyntaxError::new("invalid escape sequence", t.since(start));
        match c {
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(u32::from(c)),
            '1'..='7' if !self.peek().is_some_and(|d| ('0'..='7').contains(&d)) => {
                Err(invalid(self))
            }
            '0'..='7' => {
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 1..3 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                Ok(value)
            }
            'x' => {
                if self.peek() == Some('{') {
                    self.bump();
                    let mut value: u32 = 0;
                    let mut digits = 0;
                    loop {
                        match self.bump() {
                            Some('}') if digits > 0 => return Ok(value),
                            Some(d) => match d.to_digit(16) {
                                Some(d) => {
                                    value = value * 16 + d;
                                    digits += 1;
                                    if value > u32::from(char::MAX) {
                                        return Err(invalid(self));
                                    }
                                }
                                None => return Err(invalid(self)),
                            },
                            None => return Err(invalid(self)),
                        }
                    }
                }
                let hi = self.bump().and_then(|d| d.to_digit(16));
                let lo = self.bump().and_then(|d| d.to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => Ok(hi * 16 + lo),
                    _ => Err(invalid(self)),
                }
            }
            'a' => Ok(0x07),
            'f' => Ok(0x0c),
            'n' => Ok(0x0a),
            'r' => Ok(0x0d),
            't' => Ok(0x09),
            'v' => Ok(0x0b),
            _ => Err(invalid(self)),
        }
    }

    /// `\pN`, `\p{Name}`, `\PN`, `\p{^Name}`, at the current position.
    fn unicode_class(&mut self) -> Result<String, GoSyntaxError> {
        let start = self.pos;
        let rest = self.rest();
        let mut negated = rest.starts_with(r"\P");
        let name = if rest.get(2..).is_some_and(|r| r.starts_with('{')) {
            let Some(end) = rest.find('}') else {
                return Err(GoSyntaxError::new("invalid character class range", rest));
            };
            self.pos += end + 1;
            rest.get(3..end).unwrap_or_default().to_owned()
        } else {
            self.pos += 2;
            match self.bump() {
                Some(c) => c.to_string(),
                None => {
                    return Err(GoSyntaxError::new(
                        "invalid character class range",
                        self.since(start),
                    ));
                }
            }
        };
        let name = match name.strip_prefix('^') {
            Some(name) => {
                negated = !negated;
                name.to_owned()
            }
            None => name,
        };
        // Go looks names up among general categories and scripts (loosely, since Go 1.25); the
        // regex crate checks that the name exists. Its `key=value` forms are not Go syntax.
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '));
        if !plain {
            return Err(GoSyntaxError::new(
                "invalid character class range",
                self.since(start),
            ));
        }
        let p = if negated { 'P' } else { 'p' };
        Ok(format!("\\{p}{{{name}}}"))
    }

    /// A bracketed class, written as a regex-crate class whose members are all escaped, so that
    /// none of `[`, `&&`, `--`, `~~` takes the meaning it has there.
    fn class(&mut self) -> Result<String, GoSyntaxError> {
        let whole = self.pos;
        self.bump();
        let mut out = String::from("[");
        if self.peek() == Some('^') {
            self.bump();
            out.push('^');
        }
        let mut first = true;
        loop {
            match self.peek() {
                Some(']') if !first => {
                    self.bump();
                    break;
                }
                None => {
                    return Err(GoSyntaxError::new(
                        "missing closing ]",
                        self.src.get(whole..).unwrap_or_default(),
                    ));
                }
                _ => {}
            }
            first = false;
            let rest = self.rest();
            if rest.len() > 2 && rest.starts_with("[:") {
                if let Some(end) = rest.get(2..).and_then(|r| r.find(":]")) {
                    let name = rest.get(..end + 4).unwrap_or_default();
                    let Some((negated, ranges)) = posix_class(name) else {
                        return Err(GoSyntaxError::new("invalid character class range", name));
                    };
                    self.pos += name.len();
                    push_group(&mut out, negated, ranges);
                    continue;
                }
            }
            if rest.starts_with(r"\p") || rest.starts_with(r"\P") {
                let class = self.unicode_class()?;
                out.push_str(&class);
                continue;
            }
            if let Some(group) = rest
                .strip_prefix('\\')
                .and_then(|r| r.chars().next())
                .and_then(perl_class)
            {
                self.pos += 2;
                push_group(&mut out, group.negated, group.ranges);
                continue;
            }
            let range_start = self.pos;
            let lo = self.class_char(whole)?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.bump();
                hi = self.class_char(whole)?;
                if hi < lo {
                    return Err(GoSyntaxError::new(
                        "invalid character class range",
                        self.since(range_start),
                    ));
                }
            }
            push_range(&mut out, lo, hi);
        }
        out.push(']');
        Ok(out)
    }

    fn class_char(&mut self, whole: usize) -> Result<u32, GoSyntaxError> {
        match self.peek() {
            None => Err(GoSyntaxError::new(
                "missing closing ]",
                self.src.get(whole..).unwrap_or_default(),
            )),
            Some('\\') => self.escaped_char(),
            Some(c) => {
                self.bump();
                Ok(u32::from(c))
            }
        }
    }
}

/// A class that matches nothing, for a literal surrogate code point (Go accepts `\x{D800}`, but
/// no decoded text contains one).
const NOTHING: &str = r"[^\x{0}-\x{10FFFF}]";

/// `c` as a `char`, or `None` for a surrogate.
fn surrogate_free(c: u32) -> Option<char> {
    char::from_u32(c)
}

/// A literal character outside a class: letters, digits and non-ASCII as they are, every other
/// ASCII character escaped so that none is read as an operator.
fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", u32::from(c))
    }
}

/// Appends the range `lo-hi` to a class, leaving out surrogates, which the regex crate cannot
/// name and no text contains.
fn push_range(out: &mut String, lo: u32, hi: u32) {
    let pieces = [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)];
    for (lo, hi) in pieces {
        if lo > hi {
            continue;
        }
        let _ = write!(out, "\\x{{{lo:X}}}");
        if hi > lo {
            let _ = write!(out, "-\\x{{{hi:X}}}");
        }
    }
}

/// Appends an ASCII group to a class: its ranges, or a nested negated class.
fn push_group(out: &mut String, negated: bool, ranges: &[(u8, u8)]) {
    if negated {
        out.push_str("[^");
    }
    for &(lo, hi) in ranges {
        push_range(out, u32::from(lo), u32::from(hi));
    }
    if negated {
        out.push(']');
    }
}

/// One of Go's ASCII Perl classes.
struct PerlClass {
    negated: bool,
    ranges: &'static [(u8, u8)],
}

impl PerlClass {
    fn standalone(&self) -> String {
        let mut out = String::from("[");
        if self.negated {
            out.push('^');
        }
        push_group(&mut out, false, self.ranges);
        out.push(']');
        out
    }
}

const DIGIT: &[(u8, u8)] = &[(b'0', b'9')];
/// Go's `\s`: no vertical tab, unlike `[[:space:]]`.
const PERL_SPACE: &[(u8, u8)] = &[(b'\t', b'\n'), (0x0c, b'\r'), (b' ', b' ')];
const WORD: &[(u8, u8)] = &[(b'0', b'9'), (b'A', b'Z'), (b'_', b'_'), (b'a', b'z')];

fn perl_class(c: char) -> Option<PerlClass> {
    let (negated, ranges) = match c {
        'd' => (false, DIGIT),
        'D' => (true, DIGIT),
        's' => (false, PERL_SPACE),
        'S' => (true, PERL_SPACE),
        'w' => (false, WORD),
        'W' => (true, WORD),
        _ => return None,
    };
    Some(PerlClass { negated, ranges })
}

/// Go's POSIX classes (`[:alpha:]`, `[:^alpha:]`), all ASCII.
fn posix_class(name: &str) -> Option<(bool, &'static [(u8, u8)])> {
    let inner = name.strip_prefix("[:")?.strip_suffix(":]")?;
    let (negated, inner) = match inner.strip_prefix('^') {
        Some(inner) => (true, inner),
        None => (false, inner),
    };
    let ranges: &'static [(u8, u8)] = match inner {
        "alnum" => &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')],
        "alpha" => &[(b'A', b'Z'), (b'a', b'z')],
        "ascii" => &[(0x00, 0x7f)],
        "blank" => &[(b'\t', b'\t'), (b' ', b' ')],
        "cntrl" => &[(0x00, 0x1f), (0x7f, 0x7f)],
        "digit" => DIGIT,
        "graph" => &[(b'!', b'~')],
        "lower" => &[(b'a', b'z')],
        "print" => &[(b' ', b'~')],
        "punct" => &[(b'!', b'/'), (b':', b'@'), (b'[', b'`'), (b'{', b'~')],
        "space" => &[(b'\t', b'\r'), (b' ', b' ')],
        "upper" => &[(b'A', b'Z')],
        "word" => WORD,
        "xdigit" => &[(b'0', b'9'), (b'A', b'F'), (b'a', b'f')],
        _ => return None,
    };
    Some((negated, ranges))
}

/// Go's `parseRepeat` on text starting with `{`: `(min, max, length)` when it has the form of a
/// counted repetition (`max` `None` for `{n,}`); `None` when the `{` is a literal. A count too
/// large to read is `min: None` or `max: Err(())`, which Go refuses.
#[allow(clippy::type_complexity)]
fn parse_repeat(text: &str) -> Option<(Option<u64>, Result<Option<u64>, ()>, usize)> {
    let body = text.strip_prefix('{')?;
    let (min, after_min) = parse_int(body)?;
    let (max, after_max) = match after_min.strip_prefix(',') {
        None => (Ok(min), after_min),
        Some(after_comma) if after_comma.starts_with('}') => (Ok(None), after_comma),
        Some(after_comma) => {
            let (max, rest) = parse_int(after_comma)?;
            (max.map(Some).ok_or(()), rest)
        }
    };
    let rest = after_max.strip_prefix('}')?;
    let min = if max.is_err() { None } else { min };
    Some((min, max, text.len() - rest.len()))
}

/// Go's `parseInt`: decimal digits without a leading zero; the value is `None` when it is too
/// large (Go's own overflow guard).
fn parse_int(text: &str) -> Option<(Option<u64>, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits >= 2 && text.starts_with('0')) {
        return None;
    }
    let (number, rest) = text.split_at_checked(digits)?;
    let mut value: Option<u64> = Some(0);
    for b in number.bytes() {
        value = value.and_then(|v| (v < 100_000_000).then(|| v * 10 + u64::from(b - b'0')));
    }
    Some((value, rest))
}

/// `(?flags)` / `(?flags:` for the net flag changes, in the regex crate's syntax; `(?:` or
/// nothing when no flag changes.
fn flag_text(state: &[Option<bool>; 4], group: bool) -> String {
    const NAMES: [char; 4] = ['i', 'm', 's', 'U'];
    let on: String = NAMES
        .iter()
        .zip(state)
        .filter(|(_, s)| **s == Some(true))
        .map(|(n, _)| *n)
        .collect();
    let off: String = NAMES
        .iter()
        .zip(state)
        .filter(|(_, s)| **s == Some(false))
        .map(|(n, _)| *n)
        .collect();
    let mut text = String::new();
    if on.is_empty() && off.is_empty() {
        if group {
            text.push_str("(?:");
        }
        return text;
    }
    text.push_str("(?");
    text.push_str(&on);
    if !off.is_empty() {
        text.push('-');
        text.push_str(&off);
    }
    text.push(if group { ':' } else { ')' });
    text
}
