//! From byte offsets to what a person needs: line, column and the dotted
//! path of the key at that place (`workload.mix.sett`, `fault[2].crash`,
//! `fault[0].partition[1][0]`).
//!
//! The toml crate reports where an error is (a byte span) but not which key
//! it belongs to, so this walks the text with a small TOML-aware scanner
//! (strings, comments, headers, inline tables, arrays) up to the offset.

use std::cell::OnceCell;
use std::collections::BTreeMap;

pub(crate) struct Locator<'a> {
    pub file: &'a str,
    pub text: &'a str,
    line_starts: Vec<usize>,
    /// `[[name]]` header offsets by name, from one scan made on first use
    /// (scanning per lookup made loading quadratic in the number of faults).
    arrays: OnceCell<BTreeMap<String, Vec<usize>>>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Locator<'a> {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        Locator {
            file,
            text,
            line_starts,
            arrays: OnceCell::new(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() + 1;
        (line + 1, col)
    }

    /// Byte offset of the `n`-th (0-based) `[[name]]` header, if written so.
    pub fn array_header(&self, name: &str, n: usize) -> Option<usize> {
        let arrays = self.arrays.get_or_init(|| {
            let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for d in Scan::new(self.text).defs() {
                let header = d.header.as_deref().unwrap_or("");
                if let Some(inner) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
                    // The `[[`, not the name: where the entry starts.
                    let at = self.text[..d.offset].rfind("[[").unwrap_or(d.offset);
                    by_name.entry(inner.to_string()).or_default().push(at);
                }
            }
            by_name
        });
        arrays.get(name)?.get(n).copied()
    }

    /// Another definition of the key or table defined at `offset`: the first
    /// other place with the same path, else the first that conflicts with it
    /// (a key inside it, or a key it would be inside).
    pub fn other_definition(&self, offset: usize) -> Option<Def> {
        let defs = Scan::new(self.text).defs();
        let path = match defs.iter().find(|d| d.offset == offset) {
            Some(d) => d.path.clone(),
            None => self.path_at(offset),
        };
        let inside =
            |a: &str, b: &str| [".", "["].iter().any(|s| a.starts_with(&format!("{b}{s}")));
        let (same, rest): (Vec<Def>, Vec<Def>) = defs
            .into_iter()
            .filter(|d| d.offset != offset)
            .partition(|d| d.path == path);
        // A table header around `path` is no conflict; a key (a value) is.
        let conflicts =
            |d: &Def| inside(&d.path, &path) || (d.header.is_none() && inside(&path, &d.path));
        same.into_iter()
            .next()
            .or_else(|| rest.into_iter().find(conflicts))
    }

    /// The dotted key path at a byte offset.
    pub fn path_at(&self, offset: usize) -> String {
        Scan::new(self.text).path_at(offset)
    }
}

/// A key or table header as written, with its full path (`network`,
/// `fault[1].at`, `workload.mix.create`).
pub(crate) struct Def {
    /// `[name]` / `[[name]]` as written, for a header; `None` for a key.
    pub header: Option<String>,
    pub path: String,
    /// Where the key, or the name inside the header's brackets, starts.
    pub offset: usize,
}

enum Frame {
    /// A table (the header's or an inline one) and the key whose value we are in.
    Table {
        key: Option<String>,
        in_value: bool,
    },
    Array {
        index: usize,
    },
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
}

fn is_bare(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Scan<'a> {
        Scan {
            text,
            b: text.as_bytes(),
        }
    }

    /// Skip a string starting at `i` (a quote); returns the index after it.
    fn skip_string(&self, i: usize) -> usize {
        let q = self.b[i];
        let triple = self.b.len() >= i + 3 && self.b[i + 1] == q && self.b[i + 2] == q;
        let mut j = if triple { i + 3 } else { i + 1 };
        while j < self.b.len() {
            let c = self.b[j];
            if c == b'\\' && q == b'"' {
                j += 2;
                continue;
            }
            if !triple && c == b'\n' {
                return j;
            }
            if c == q {
                if !triple {
                    return j + 1;
                }
                if self.b.len() >= j + 3 && self.b[j + 1] == q && self.b[j + 2] == q {
                    return j + 3;
                }
            }
            j += 1;
        }
        self.b.len()
    }

    fn skip_comment(&self, mut i: usize) -> usize {
        while i < self.b.len() && self.b[i] != b'\n' {
            i += 1;
        }
        i
    }

    /// Read a (possibly dotted, possibly quoted) key at `i`; returns (key, end).
    fn read_key(&self, mut i: usize) -> (String, usize) {
        let mut key = String::new();
        loop {
            if i < self.b.len() && (self.b[i] == b'"' || self.b[i] == b'\'') {
                let end = self.skip_string(i);
                // Without the quotes (an unterminated key runs to `end`).
                let closed = end > i + 1 && self.b.get(end - 1) == Some(&self.b[i]);
                let mut stop = if closed { end - 1 } else { end };
                while !self.text.is_char_boundary(stop) {
                    stop -= 1;
                }
                key.push_str(self.text.get(i + 1..stop.max(i + 1)).unwrap_or(""));
                i = end;
            } else {
                let s = i;
                while i < self.b.len() && is_bare(self.b[i]) {
                    i += 1;
                }
                key.push_str(&self.text[s..i]);
            }
            let mut j = i;
            while j < self.b.len() && (self.b[j] == b' ' || self.b[j] == b'\t') {
                j += 1;
            }
            if j < self.b.len() && self.b[j] == b'.' {
                key.push('.');
                i = j + 1;
                while i < self.b.len() && (self.b[i] == b' ' || self.b[i] == b'\t') {
                    i += 1;
                }
                continue;
            }
            return (key, i);
        }
    }

    /// Every key and table header, in file order.
    fn defs(&self) -> Vec<Def> {
        let mut out = Vec::new();
        self.walk(usize::MAX, |d| out.push(d));
        out
    }

    fn path_at(&self, offset: usize) -> String {
        self.walk(offset, |_| {})
    }

    /// Walk the text up to `offset`, calling `on_def` for each key and
    /// header; returns the key path at `offset`.
    fn walk(&self, offset: usize, mut on_def: impl FnMut(Def)) -> String {
        let mut base = String::new();
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        let mut stack: Vec<Frame> = vec![Frame::Table {
            key: None,
            in_value: false,
        }];
        let mut line_start = true;
        let mut i = 0;
        let path = |base: &str, stack: &Vec<Frame>| {
            let mut p = base.to_string();
            for f in stack {
                match f {
                    Frame::Table { key: Some(k), .. } => {
                        if !p.is_empty() {
                            p.push('.');
                        }
                        p.push_str(k);
                    }
                    Frame::Table { key: None, .. } => {}
                    Frame::Array { index } => p.push_str(&format!("[{index}]")),
                }
            }
            p
        };
        while i < self.b.len() {
            let c = self.b[i];
            if c == b'\n' {
                if stack.len() == 1 {
                    stack[0] = Frame::Table {
                        key: None,
                        in_value: false,
                    };
                }
                line_start = true;
                i += 1;
                continue;
            }
            if c == b' ' || c == b'\t' || c == b'\r' {
                i += 1;
                continue;
            }
            if c == b'#' {
                i = self.skip_comment(i);
                continue;
            }
            let at_line_start = std::mem::replace(&mut line_start, false);
            // A table header: `[name]` or `[[name]]` at the top level.
            if c == b'[' && at_line_start && stack.len() == 1 {
                let double = self.b.get(i + 1) == Some(&b'[');
                let mut start = i + if double { 2 } else { 1 };
                while matches!(self.b.get(start), Some(b' ' | b'\t')) {
                    start += 1;
                }
                let (name, end) = self.read_key(start);
                let name = name.trim().to_string();
                let shown = if double {
                    format!("[[{name}]]")
                } else {
                    format!("[{name}]")
                };
                if i > offset {
                    return path(&base, &stack);
                }
                base = if double {
                    let n = counts.entry(name.clone()).or_insert(0);
                    *n += 1;
                    format!("{name}[{}]", *n - 1)
                } else {
                    name
                };
                on_def(Def {
                    header: Some(shown),
                    path: base.clone(),
                    offset: start,
                });
                i = self.skip_comment(end);
                if offset <= i {
                    return base;
                }
                continue;
            }
            let top = stack.len() - 1;
            let expecting_key = matches!(
                stack[top],
                Frame::Table {
                    in_value: false,
                    ..
                }
            );
            if expecting_key {
                if c == b'}' {
                    if i >= offset {
                        return path(&base, &stack);
                    }
                    // The top-level table is never closed (a stray `}`).
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    i += 1;
                    continue;
                }
                if c == b',' {
                    i += 1;
                    continue;
                }
                if i > offset {
                    return path(&base, &stack);
                }
                let (key, end) = self.read_key(i);
                if end == i {
                    // Not a key: a stray character (maybe not ASCII).
                    if i >= offset {
                        return path(&base, &stack);
                    }
                    i += self.text[i..].chars().next().map_or(1, char::len_utf8);
                    continue;
                }
                if let Frame::Table { key: k, .. } = &mut stack[top] {
                    *k = Some(key);
                }
                if offset < end || i >= offset {
                    return path(&base, &stack);
                }
                on_def(Def {
                    header: None,
                    path: path(&base, &stack),
                    offset: i,
                });
                i = end;
                // Expect `=`.
                while i < self.b.len() && (self.b[i] == b' ' || self.b[i] == b'\t') {
                    i += 1;
                }
                if i < self.b.len() && self.b[i] == b'=' {
                    if let Frame::Table { in_value, .. } = &mut stack[top] {
                        *in_value = true;
                    }
                    i += 1;
                }
                continue;
            }
            if i >= offset {
                return path(&base, &stack);
            }
            match c {
                b'[' => {
                    stack.push(Frame::Array { index: 0 });
                    i += 1;
                }
                b'{' => {
                    stack.push(Frame::Table {
                        key: None,
                        in_value: false,
                    });
                    i += 1;
                }
                b']' | b'}' => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    i += 1;
                }
                b',' => {
                    match stack.last_mut() {
                        Some(Frame::Array { index }) => *index += 1,
                        Some(Frame::Table { key, in_value }) => {
                            *key = None;
                            *in_value = false;
                        }
                        None => {}
                    }
                    i += 1;
                }
                b'"' | b'\'' => {
                    let end = self.skip_string(i);
                    if offset < end {
                        return path(&base, &stack);
                    }
                    i = end;
                }
                _ => {
                    let s = i;
                    while i < self.b.len()
                        && !matches!(self.b[i], b',' | b']' | b'}' | b'\n' | b'#' | b' ' | b'\t')
                    {
                        i += 1;
                    }
                    if i == s {
                        i += self.text[i..].chars().next().map_or(1, char::len_utf8);
                    }
                    if offset < i {
                        return path(&base, &stack);
                    }
                }
            }
        }
        path(&base, &stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"# header comment
name = "x"  # trailing
duration = "40s"

[ensemble]
servers = 5

[workload]
mix = { create = 3, sett = 4 }

[[fault]]
at = "8s"
crash = "leader"

[[fault]]
at = "9s"
partition = [["leader"], ["leadr", 3]]
"#;

    fn path_of(needle: &str) -> String {
        let off = DOC.find(needle).unwrap();
        Locator::new("f", DOC).path_at(off)
    }

    #[test]
    fn paths_of_keys_and_values() {
        assert_eq!(path_of("name"), "name");
        assert_eq!(path_of("\"40s\""), "duration");
        assert_eq!(path_of("servers"), "ensemble.servers");
        assert_eq!(path_of("sett"), "workload.mix.sett");
        assert_eq!(path_of("\"leader\"\n"), "fault[0].crash");
        assert_eq!(path_of("\"leadr\""), "fault[1].partition[1][0]");
        assert_eq!(path_of("3]]"), "fault[1].partition[1][1]");
    }

    /// A stray `}` at the top level is not the end of an inline table.
    #[test]
    fn a_stray_closing_brace() {
        let doc = "}\nname = 1\n";
        let l = Locator::new("f", doc);
        assert_eq!(l.path_at(doc.find("1").unwrap()), "name");
        assert_eq!(l.path_at(0), "");
    }

    #[test]
    fn headers_with_spaces_inside_the_brackets() {
        let doc = "[ network ]\nlatency = 1\n[[ fault ]]\nat = 2\n";
        let l = Locator::new("f", doc);
        assert_eq!(l.path_at(doc.find("latency").unwrap()), "network.latency");
        assert_eq!(l.path_at(doc.find("at =").unwrap()), "fault[0].at");
        assert_eq!(l.array_header("fault", 0), doc.find("[[ fault"));
    }

    #[test]
    fn lines_columns_and_headers() {
        let l = Locator::new("f", DOC);
        assert_eq!(l.line_col(0), (1, 1));
        assert_eq!(l.line_col(DOC.find("servers").unwrap()), (6, 1));
        assert_eq!(l.line_col(DOC.find("sett").unwrap()), (9, 21));
        let h = l.array_header("fault", 1).unwrap();
        assert_eq!(l.line_col(h), (15, 1));
        assert!(l.array_header("fault", 2).is_none());
    }
}
