//! STYLE 1 as a test: the cores in `src/proto` touch no socket, file, thread, runtime or clock.
//! Walks the module tree from `src/proto/mod.rs` the way rustc does (`mod x;`, `#[path]`),
//! leaves out what only tests compile (`#[cfg(test)]` items and the files they declare), blanks
//! comments and string literals, and looks for the names that would mean IO, threads, a clock,
//! an async runtime or SQLite.
//!
//! Types are fine: a core may take `SocketAddr`, `IpAddr`, `Instant` and `Duration` as data.
//! Reading the clock (`::now`) is what is forbidden. A renamed import (`use std::fs as f`) could
//! slip past a name check; review is the backstop for that.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// (name, what it would mean). A name matches where no identifier character precedes it and no
/// letter or digit follows (so `smol` also finds `smol_hyper`, and `async` finds `async_io`);
/// names ending in `::` match as prefixes.
const FORBIDDEN: &[(&str, &str)] = &[
    ("fs::", "file IO"),
    ("File::", "file IO"),
    ("TcpStream", "a socket"),
    ("TcpListener", "a socket"),
    ("UdpSocket", "a socket"),
    ("UnixStream", "a socket"),
    ("io::Read", "blocking IO"),
    ("io::BufRead", "blocking IO"),
    ("io::stdin", "blocking IO"),
    ("io::stdout", "blocking IO"),
    ("io::stderr", "blocking IO"),
    ("thread::", "a thread"),
    ("::now", "reading a clock (take `now` as an argument)"),
    ("env::", "the process environment"),
    ("process::", "the process"),
    ("SystemRandom", "OS randomness (inject it)"),
    ("OsRng", "OS randomness (inject it)"),
    ("thread_rng", "OS randomness (inject it)"),
    ("getrandom", "OS randomness (inject it)"),
    ("smol", "the async runtime"),
    ("async", "async code"),
    ("await", "async code"),
    ("tokio", "an async runtime"),
    ("futures", "async code"),
    ("rusqlite", "SQLite"),
];

#[test]
fn proto_cores_use_no_io_threads_clocks_async_or_sqlite() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("src/proto");
    let tree = walk_tree(&root.join("mod.rs"));
    let mut violations = Vec::new();
    for file in &tree.production {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, name, why) in violations_in(&text) {
            let shown = file.strip_prefix(manifest).unwrap_or(file);
            violations.push(format!("{}:{line}: `{name}` is {why}", shown.display()));
        }
    }
    assert!(violations.is_empty(), "src/proto must stay pure (STYLE 1):\n{}", violations.join("\n"));
    // The walk must have seen the whole tree, or the check above proves little.
    let on_disk = rust_files(&root);
    let seen: BTreeSet<PathBuf> = tree.production.union(&tree.test_only).cloned().collect();
    let missed: Vec<_> = on_disk.difference(&seen).collect();
    assert!(missed.is_empty(), "files under src/proto outside the module tree: {missed:?}");
    assert!(tree.production.contains(&root.join("turn/requests.rs")));
    assert!(tree.test_only.contains(&root.join("turn/tests.rs")));
    assert!(tree.test_only.contains(&root.join("turn/proptests.rs")), "a #[path] module inside a test module");
}

#[test]
fn the_check_reads_code_and_skips_comments_strings_and_test_items() {
    let clean = r##"
        //! Docs may say smol, std::fs and Instant::now.
        use std::time::{Duration, Instant};
        fn f(now: Instant) -> &'static str { /* thread::spawn */ let _c = '{'; "async fs::read" }
        fn g<'a>(s: &'a str) -> (&'a str, char, &'static str) { (s, '\'', r#"}"smol"{"#) }
        #[cfg(test)]
        mod tests {
            fn g() { let _ = std::time::Instant::now(); }
        }
        #[cfg(test)]
        fn h(x: [u8; 4]) { std::thread::sleep(Duration::ZERO); }
    "##;
    assert_eq!(violations_in(clean), vec![]);
    let names = |text: &str| violations_in(text).into_iter().map(|(_, n, _)| n).collect::<Vec<_>>();
    assert_eq!(names("fn f() { let t = Instant::now(); }"), ["::now"]);
    assert_eq!(names("use std::{fs::File, net::UdpSocket};"), ["File::", "UdpSocket", "fs::"]);
    assert_eq!(names("use std::{\n    fs,\n    io::{self, Read},\n    thread,\n};"), ["fs::", "io::Read", "thread::"]);
    assert_eq!(names("async fn f() { g().await }"), ["async", "await"]);
    assert_eq!(names("use async_channel::Sender; use futures_lite::io;"), ["async", "futures"]);
    assert_eq!(names("let r = rusqlite::Connection::open_in_memory();"), ["rusqlite"]);
    assert_eq!(names("fn nowhere(smolder: u8, my_async: u8) {}"), Vec::<&str>::new());
    assert_eq!(violations_in("\n\nstd::thread::spawn(f);")[0].0, 3, "line numbers are 1-based");
}

struct Tree {
    production: BTreeSet<PathBuf>,
    test_only: BTreeSet<PathBuf>,
}

fn walk_tree(root_file: &Path) -> Tree {
    let mut tree = Tree { production: BTreeSet::new(), test_only: BTreeSet::new() };
    let mut stack = vec![(root_file.to_path_buf(), false)];
    while let Some((file, test_only)) = stack.pop() {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = blank_comments_and_literals(&text);
        let dir = file.parent().unwrap().to_path_buf();
        let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
        let child_dir = if is_mod_rs { dir.clone() } else { dir.join(file.file_stem().unwrap()) };
        for decl in mod_declarations(&text, &code) {
            let path = match &decl.path_attr {
                Some(p) => dir.join(p),
                None if child_dir.join(format!("{}.rs", decl.name)).exists() => {
                    child_dir.join(format!("{}.rs", decl.name))
                }
                None => child_dir.join(&decl.name).join("mod.rs"),
            };
            stack.push((path, test_only || decl.cfg_test));
        }
        if test_only { &mut tree.test_only } else { &mut tree.production }.insert(file);
    }
    tree
}

fn rust_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.insert(path);
        }
    }
    out
}

struct ModDecl {
    name: String,
    path_attr: Option<String>,
    cfg_test: bool,
}

/// Out-of-line `mod name;` items, with their `#[path]` and whether they sit under `#[cfg(test)]`.
fn mod_declarations(text: &str, code: &str) -> Vec<ModDecl> {
    let mut out = Vec::new();
    let mut attrs: Vec<&str> = Vec::new();
    for (raw, line) in text.lines().zip(code.lines()) {
        let line = line.trim();
        if line.starts_with("#[") {
            attrs.push(raw.trim());
            continue;
        }
        let item = line.strip_prefix("pub(crate) ").or_else(|| line.strip_prefix("pub ")).unwrap_or(line);
        if let Some(name) = item.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            let path_attr = attrs.iter().find_map(|a| {
                let rest = a.strip_prefix("#[path")?.trim_start().strip_prefix('=')?.trim();
                Some(rest.strip_suffix("]")?.trim().trim_matches('"').to_owned())
            });
            let cfg_test = attrs.contains(&"#[cfg(test)]");
            out.push(ModDecl { name: name.trim().to_owned(), path_attr, cfg_test });
        }
        if !line.is_empty() {
            attrs.clear();
        }
    }
    out
}

/// (line, name, meaning) of each forbidden name in the code that is compiled outside tests. A
/// grouped `use std::{fs, thread};` is read as the paths it imports, so grouping hides nothing.
fn violations_in(text: &str) -> Vec<(usize, &'static str, &'static str)> {
    let code = blank_test_items(&blank_comments_and_literals(text));
    let mut found = names_in(&code);
    for (at, _) in code.match_indices("use ").filter(|(at, _)| *at == 0 || !is_ident(code.as_bytes()[at - 1])) {
        let tree = code[at + 4..].split(';').next().unwrap_or_default();
        for path in expand_use_tree(tree) {
            found.extend(names_in(&format!("{path}::")).into_iter().map(|(_, name, why)| (at, name, why)));
        }
    }
    let mut lines: Vec<_> =
        found.into_iter().map(|(at, name, why)| (code[..at].matches('\n').count() + 1, name, why)).collect();
    lines.sort();
    lines.dedup();
    lines
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// (offset, name, meaning) of each forbidden name in `code`.
fn names_in(code: &str) -> Vec<(usize, &'static str, &'static str)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for &(name, why) in FORBIDDEN {
        let prefix = name.ends_with(':');
        for (at, _) in code.match_indices(name) {
            let left_ok = at == 0 || !is_ident(bytes[at - 1]) || name.starts_with(':');
            let end = at + name.len();
            let right_ok = prefix || end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
            if left_ok && right_ok {
                found.push((at, name, why));
            }
        }
    }
    found
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e` (whitespace dropped).
fn expand_use_tree(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else { return vec![tree] };
    let (prefix, inner) = (&tree[..open], tree[open + 1..].strip_suffix('}').unwrap_or(&tree[open + 1..]));
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[from..]);
    parts.into_iter().filter(|p| !p.is_empty()).flat_map(expand_use_tree).map(|p| format!("{prefix}{p}")).collect()
}

/// The text with comments and the insides of string and char literals replaced by spaces (line
/// breaks kept), so names in docs or messages do not count and braces in literals do not nest.
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let starts = |s: &str| s.chars().zip(rest).filter(|(a, b)| a == *b).count() == s.len();
        if starts("//") {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if starts("/*") {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(rest) {
            // r"..", r#".."#, br".." and so on: no escapes, ends at a quote and the same hashes.
            let open = rest.iter().position(|&c| c == '"').unwrap() + 1;
            out.extend(std::iter::repeat_n(' ', open));
            i += open;
            while i < chars.len()
                && !(chars[i] == '"' && chars[i + 1..].iter().take_while(|&&c| c == '#').count() >= hashes)
            {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.extend(std::iter::repeat_n(' ', 1 + hashes));
            i += 1 + hashes;
        } else if chars[i] == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let n = if chars[i] == '\\' { 2 } else { 1 };
                chars[i..(i + n).min(chars.len())].iter().for_each(|&c| out.push(blank(c)));
                i += n;
            }
            out.push(' ');
            i += 1;
        } else if chars[i] == '\'' && (rest.get(1) == Some(&'\\') || rest.get(2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\'', '\u{7f}'); a lifetime ('a) has no closing quote.
            let len = match rest[1] {
                '\\' => rest.iter().skip(3).position(|&c| c == '\'').map_or(rest.len(), |p| p + 4),
                _ => 3,
            };
            out.extend(std::iter::repeat_n(' ', len));
            i += len;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string literal starting here (`r"`, `r#"`, `br"`), if one does.
fn raw_string_start(rest: &[char]) -> Option<usize> {
    let after_b = if rest.first() == Some(&'b') { &rest[1..] } else { rest };
    let after_r = after_b.strip_prefix(&['r'])?;
    let hashes = after_r.iter().take_while(|&&c| c == '#').count();
    (after_r.get(hashes) == Some(&'"')).then_some(hashes)
}

/// Blanks every item under `#[cfg(test)]`: up to its `;`, or through its braced body.
fn blank_test_items(code: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let mut out: Vec<u8> = code.as_bytes().to_vec();
    let mut from = 0;
    while let Some(pos) = code[from..].find(ATTR).map(|p| p + from) {
        let mut depth = 0i32;
        let mut end = code.len();
        for (i, b) in code.bytes().enumerate().skip(pos + ATTR.len()) {
            match b {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' => depth -= 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        out[pos..end].iter_mut().filter(|b| **b != b'\n').for_each(|b| *b = b' ');
        from = end;
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced, by ASCII spaces")
}
