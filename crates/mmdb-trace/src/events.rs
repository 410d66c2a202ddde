//! The mm event format's events: maps an event name and its `key=value` fields to a model [`Op`].
//!
//! ```text
//! spawn: comm=NAME                  fork: child=PID [thread=0|1]      exec: filename=PATH       exit:
//! mmap: [addr=ADDR] len=SIZE prot=PROT flags=FLAGS [file=NAME offset=SIZE]
//! munmap: addr=ADDR len=SIZE        mprotect: addr=ADDR len=SIZE prot=PROT
//! mremap: addr=ADDR old_len=SIZE new_len=SIZE flags=FLAGS [new_addr=ADDR]
//! brk: brk=ADDR                     fault: addr=ADDR access=read|write|exec [pfn=HEX]
//! touch: addr=ADDR access=read|write|exec                   store: addr=ADDR value=N
//! madvise: addr=ADDR len=SIZE advice=MADV_*                 mlock: addr=ADDR len=SIZE
//! munlock: addr=ADDR len=SIZE       lru_add_drain:            lru_add_drain_all:        reclaim: nr=N
//! memcg_create: id=N limit=SIZE     memcg_attach: id=N        swapon: size=SIZE
//! page_cache: file=NAME index=N pages=N cached=0|1
//! ```
//!
//! Fields come in any order, separated by blanks. Numbers are decimal or `0x` hex; sizes also take a `K`, `M`
//! or `G` suffix (binary multiples) on decimal numbers. `PROT`/`FLAGS` are `|`-joined kernel names (`0` or
//! `PROT_NONE` for none). Values are tokens without blanks, or double-quoted strings with the escapes `\"`,
//! `\\`, `\n`, `\r`, `\t` and `\0` (a line itself never holds a NUL byte).

use std::borrow::Cow;

use memchr::memchr2;
use mmdb_model::consts::{parse_bits, MADV_NAMES, MAP_NAMES, MREMAP_NAMES, PROT_NAMES};
use mmdb_model::kmem::KmemFreeVia;
use mmdb_model::lru::BatchKind;
use mmdb_model::vrange::{VrangeBehavior, VrangeMode};
use mmdb_model::{Access, FileRef, Op};
use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while1};
use nom::character::complete::{char, digit1, hex_digit1};
use nom::combinator::{all_consuming, map, opt, recognize};
use nom::sequence::{pair, preceded, terminated};
use nom::IResult;

use crate::diag::{token_len, LineError};
use crate::lexer::{EventSep, Prefix};

/// Maps the event of a lexed mm-format line to its [`Op`]; `line` is the text `prefix` was lexed from.
pub fn parse_op(line: &str, prefix: &Prefix<'_>) -> Result<Op, LineError> {
    let Some(def) = EVENTS.iter().find(|d| d.name == prefix.event) else {
        let names: Vec<&str> = event_names().collect();
        let expected = format!("one of the mm event names: {}", names.join(", "));
        return Err(LineError::new(prefix.event_offset, prefix.event.len(), expected));
    };
    if prefix.sep != EventSep::Colon {
        return Err(LineError::at_token(line, prefix.event_offset + prefix.event.len(), "`:` after the event name"));
    }
    let fields = Fields::parse(def.fields, line, prefix.rest_offset)?;
    (def.build)(&fields)
}

/// The names of the mm event format's events, in the order of [`Op`]'s variants.
pub fn event_names() -> impl Iterator<Item = &'static str> {
    EVENTS.iter().map(|d| d.name)
}

/// How a field's value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A `u64`, decimal or `0x` hex.
    Num,
    /// A `u64` that may also carry a `K`/`M`/`G` suffix.
    Size,
    /// A `u32`, decimal or `0x` hex.
    U32,
    /// `0` or `1`.
    Bool,
    Prot,
    MapFlags,
    MremapFlags,
    /// A `MADV_*` name or a decimal `i64`.
    Advice,
    Access,
    /// A per-CPU batch name (`lru_add`, ...).
    Batch,
    Str,
}

/// One field an event accepts.
#[derive(Debug)]
struct Spec {
    key: &'static str,
    kind: Kind,
    /// How the value is written, for messages: `ADDR`, `SIZE`, `read|write|exec`.
    syntax: &'static str,
    required: bool,
}

const fn req(key: &'static str, kind: Kind, syntax: &'static str) -> Spec {
    Spec { key, kind, syntax, required: true }
}

const fn opt_(key: &'static str, kind: Kind, syntax: &'static str) -> Spec {
    Spec { key, kind, syntax, required: false }
}

/// One event of the format: its name, its fields and how they make an [`Op`].
struct EventDef {
    name: &'static str,
    fields: &'static [Spec],
    build: fn(&Fields<'_>) -> Result<Op, LineError>,
}

/// The most fields any event has (`mmap`).
const MAX_FIELDS: usize = 6;

const ADDR_LEN: &[Spec] = &[req("addr", Kind::Num, "ADDR"), req("len", Kind::Size, "SIZE")];

const EVENTS: &[EventDef] = &[
    EventDef {
        name: "spawn",
        fields: &[req("comm", Kind::Str, "NAME")],
        build: |f| Ok(Op::Spawn { comm: f.string("comm")? }),
    },
    EventDef {
        name: "fork",
        fields: &[req("child", Kind::U32, "PID"), opt_("thread", Kind::Bool, "0|1")],
        build: |f| Ok(Op::Fork { child: f.u32("child")?, thread: f.opt_bool("thread")?.unwrap_or(false) }),
    },
    EventDef {
        name: "vfork",
        fields: &[req("child", Kind::U32, "PID")],
        build: |f| Ok(Op::Vfork { child: f.u32("child")? }),
    },
    EventDef {
        name: "exec",
        fields: &[req("filename", Kind::Str, "PATH")],
        build: |f| Ok(Op::Exec { filename: f.string("filename")? }),
    },
    EventDef { name: "exit", fields: &[], build: |_| Ok(Op::Exit) },
    EventDef {
        name: "rename",
        fields: &[req("comm", Kind::Str, "NAME")],
        build: |f| Ok(Op::Rename { comm: f.string("comm")? }),
    },
    EventDef {
        name: "mmap",
        fields: &[
            opt_("addr", Kind::Num, "ADDR"),
            req("len", Kind::Size, "SIZE"),
            req("prot", Kind::Prot, "PROT"),
            req("flags", Kind::MapFlags, "FLAGS"),
            opt_("file", Kind::Str, "NAME"),
            opt_("offset", Kind::Size, "SIZE"),
        ],
        build: |f| {
            let len = f.num("len")?;
            let prot = f.num("prot")?;
            let flags = f.num("flags")?;
            let file = match (f.opt_string("file")?, f.opt_num("offset")?) {
                (Some(name), offset) => Some(FileRef { name, offset: offset.unwrap_or(0) }),
                (None, Some(_)) => return Err(f.error_at("offset", "`file=NAME` alongside `offset=`")),
                (None, None) => None,
            };
            Ok(Op::Mmap { addr: f.opt_num("addr")?, len, prot, flags, file })
        },
    },
    EventDef {
        name: "munmap",
        fields: ADDR_LEN,
        build: |f| Ok(Op::Munmap { addr: f.num("addr")?, len: f.num("len")? }),
    },
    EventDef {
        name: "mprotect",
        fields: &[req("addr", Kind::Num, "ADDR"), req("len", Kind::Size, "SIZE"), req("prot", Kind::Prot, "PROT")],
        build: |f| Ok(Op::Mprotect { addr: f.num("addr")?, len: f.num("len")?, prot: f.num("prot")? }),
    },
    EventDef {
        name: "mremap",
        fields: &[
            req("addr", Kind::Num, "ADDR"),
            req("old_len", Kind::Size, "SIZE"),
            req("new_len", Kind::Size, "SIZE"),
            req("flags", Kind::MremapFlags, "FLAGS"),
            opt_("new_addr", Kind::Num, "ADDR"),
        ],
        build: |f| {
            Ok(Op::Mremap {
                addr: f.num("addr")?,
                old_len: f.num("old_len")?,
                new_len: f.num("new_len")?,
                flags: f.num("flags")?,
                new_addr: f.opt_num("new_addr")?,
            })
        },
    },
    EventDef { name: "brk", fields: &[req("brk", Kind::Num, "ADDR")], build: |f| Ok(Op::Brk { brk: f.num("brk")? }) },
    EventDef {
        name: "fault",
        fields: &[
            req("addr", Kind::Num, "ADDR"),
            req("access", Kind::Access, "read|write|exec"),
            opt_("pfn", Kind::Num, "HEX"),
            opt_("around", Kind::Num, "ADDR"),
            opt_("around_pages", Kind::Num, "N"),
        ],
        build: |f| {
            let around = match (f.opt_num("around")?, f.opt_num("around_pages")?) {
                (Some(first), Some(pages)) => Some((first, pages)),
                (None, None) => None,
                _ => return Err(LineError::new(f.end, 0, "`around=ADDR` and `around_pages=N` together")),
            };
            Ok(Op::Fault { addr: f.num("addr")?, access: f.access("access")?, pfn: f.opt_num("pfn")?, around })
        },
    },
    EventDef {
        name: "touch",
        fields: &[req("addr", Kind::Num, "ADDR"), req("access", Kind::Access, "read|write|exec")],
        build: |f| Ok(Op::Touch { addr: f.num("addr")?, access: f.access("access")? }),
    },
    EventDef {
        name: "gup",
        fields: &[req("addr", Kind::Num, "ADDR"), req("access", Kind::Access, "read|write")],
        build: |f| match f.access("access")? {
            Access::Read => Ok(Op::Gup { addr: f.num("addr")?, write: false }),
            Access::Write => Ok(Op::Gup { addr: f.num("addr")?, write: true }),
            Access::Exec => Err(LineError::new(0, 0, Cow::Borrowed("`access=read` or `access=write` for `gup`"))),
        },
    },
    EventDef {
        name: "store",
        fields: &[req("addr", Kind::Num, "ADDR"), req("value", Kind::Num, "N")],
        build: |f| Ok(Op::Store { addr: f.num("addr")?, value: f.num("value")? }),
    },
    EventDef {
        name: "madvise",
        fields: &[
            req("addr", Kind::Num, "ADDR"),
            req("len", Kind::Size, "SIZE"),
            req("advice", Kind::Advice, "MADV_*"),
        ],
        build: |f| Ok(Op::Madvise { addr: f.num("addr")?, len: f.num("len")?, advice: f.int("advice")? }),
    },
    EventDef { name: "mlock", fields: ADDR_LEN, build: |f| Ok(Op::Mlock { addr: f.num("addr")?, len: f.num("len")? }) },
    EventDef {
        name: "munlock",
        fields: ADDR_LEN,
        build: |f| Ok(Op::Munlock { addr: f.num("addr")?, len: f.num("len")? }),
    },
    EventDef { name: "lru_add_drain", fields: &[], build: |_| Ok(Op::LruAddDrain) },
    EventDef { name: "lru_add_drain_all", fields: &[], build: |_| Ok(Op::LruAddDrainAll) },
    EventDef {
        name: "folio_batch_move",
        fields: &[req("batch", Kind::Batch, "lru_add|lru_deactivate|lru_lazyfree|lru_activate|mlock")],
        build: |f| Ok(Op::FolioBatchMove { batch: f.batch("batch")? }),
    },
    EventDef {
        name: "reclaim",
        fields: &[req("nr", Kind::Num, "N"), opt_("memcg", Kind::Num, "ID")],
        build: |f| {
            let memcg = f
                .opt_num("memcg")?
                .map(u32::try_from)
                .transpose()
                .map_err(|_| LineError::new(0, 0, Cow::Borrowed("a memcg id that fits in 32 bits for `memcg`")))?;
            Ok(Op::Reclaim { nr: f.num("nr")?, memcg })
        },
    },
    EventDef {
        name: "shrink_folio",
        fields: &[req("pfn", Kind::Num, "PFN")],
        build: |f| Ok(Op::ShrinkFolio { pfn: f.num("pfn")? }),
    },
    EventDef {
        name: "memcg_create",
        fields: &[req("id", Kind::U32, "N"), req("limit", Kind::Size, "SIZE")],
        build: |f| Ok(Op::MemcgCreate { id: f.u32("id")?, limit: f.num("limit")? }),
    },
    EventDef {
        name: "memcg_attach",
        fields: &[req("id", Kind::U32, "N")],
        build: |f| Ok(Op::MemcgAttach { id: f.u32("id")? }),
    },
    EventDef {
        name: "swapon",
        fields: &[req("size", Kind::Size, "SIZE")],
        build: |f| Ok(Op::Swapon { size: f.num("size")? }),
    },
    EventDef {
        name: "kmem_alloc",
        fields: &[req("order", Kind::U32, "N"), opt_("account", Kind::Bool, "0|1")],
        build: |f| Ok(Op::KmemAlloc { order: f.u32("order")?, account: f.opt_bool("account")?.unwrap_or(false) }),
    },
    EventDef {
        name: "folio_get",
        fields: &[req("pfn", Kind::Num, "PFN")],
        build: |f| Ok(Op::FolioGet { pfn: f.num("pfn")? }),
    },
    EventDef {
        name: "folio_put",
        fields: &[req("pfn", Kind::Num, "PFN")],
        build: |f| Ok(Op::FolioPut { pfn: f.num("pfn")? }),
    },
    EventDef {
        name: "kmem_get",
        fields: &[req("pfn", Kind::Num, "PFN")],
        build: |f| Ok(Op::KmemGet { pfn: f.num("pfn")? }),
    },
    EventDef {
        name: "kmem_free",
        fields: &[
            req("pfn", Kind::Num, "PFN"),
            req("via", Kind::Str, "free_kmem_pages|free_pages|put_page|release_pages"),
        ],
        build: |f| {
            let via = KmemFreeVia::from_name(&f.string("via")?).ok_or_else(|| {
                LineError::new(
                    0,
                    0,
                    Cow::Borrowed("`free_kmem_pages`, `free_pages`, `put_page` or `release_pages` for `via`"),
                )
            })?;
            Ok(Op::KmemFree { pfn: f.num("pfn")?, via })
        },
    },
    EventDef {
        name: "balloon_inflate",
        fields: &[opt_("account", Kind::Bool, "0|1")],
        build: |f| Ok(Op::BalloonInflate { account: f.opt_bool("account")?.unwrap_or(false) }),
    },
    EventDef {
        name: "balloon_deflate",
        fields: &[req("pfn", Kind::Num, "PFN")],
        build: |f| Ok(Op::BalloonDeflate { pfn: f.num("pfn")? }),
    },
    EventDef {
        name: "vrange",
        fields: &[
            req("addr", Kind::Num, "ADDR"),
            req("len", Kind::Size, "SIZE"),
            req("mode", Kind::Str, "volatile|novolatile"),
            opt_("behavior", Kind::Str, "full|partial"),
        ],
        build: |f| {
            let mode = VrangeMode::from_name(&f.string("mode")?)
                .ok_or_else(|| LineError::new(0, 0, Cow::Borrowed("`volatile` or `novolatile` for `mode`")))?;
            let behavior = match f.opt_string("behavior")? {
                None => VrangeBehavior::Full,
                Some(b) => VrangeBehavior::from_name(&b)
                    .ok_or_else(|| LineError::new(0, 0, Cow::Borrowed("`full` or `partial` for `behavior`")))?,
            };
            Ok(Op::Vrange { addr: f.num("addr")?, len: f.num("len")?, mode, behavior })
        },
    },
    EventDef {
        name: "page_cache",
        fields: &[
            req("file", Kind::Str, "NAME"),
            req("index", Kind::Num, "N"),
            req("pages", Kind::Num, "N"),
            req("cached", Kind::Bool, "0|1"),
            opt_("readahead", Kind::Bool, "0|1"),
        ],
        build: |f| {
            let cached = f.opt_bool("cached")?.unwrap_or(false);
            let readahead = f.opt_bool("readahead")?.unwrap_or(false);
            let (file, index, pages) = (f.string("file")?, f.num("index")?, f.num("pages")?);
            Ok(Op::PageCache { file, index, pages, cached, readahead })
        },
    },
    EventDef {
        name: "page_cache_frame",
        fields: &[
            req("file", Kind::Str, "NAME"),
            req("index", Kind::Num, "N"),
            req("pfn", Kind::Num, "PFN"),
            req("kflags", Kind::Num, "FLAGS"),
        ],
        build: |f| {
            let (file, index) = (f.string("file")?, f.num("index")?);
            Ok(Op::PageCacheFrame { file, index, pfn: f.num("pfn")?, kflags: f.num("kflags")? })
        },
    },
];

/// A field's value, read according to its [`Kind`].
#[derive(Debug)]
enum Val<'a> {
    Num(u64),
    Int(i64),
    Bool(bool),
    Access(Access),
    Batch(BatchKind),
    Str(Cow<'a, str>),
}

/// One `key=value` token: its value and where the token is in the line.
#[derive(Debug)]
struct Slot<'a> {
    val: Val<'a>,
    offset: usize,
    len: usize,
}

/// The fields of one line, in the order of the event's [`Spec`]s.
#[derive(Debug)]
struct Fields<'a> {
    specs: &'static [Spec],
    slots: [Option<Slot<'a>>; MAX_FIELDS],
    /// The line's length: where "missing key" errors point.
    end: usize,
}

type Res<'a, T> = IResult<&'a str, T>;

fn key_eq(i: &str) -> Res<'_, &str> {
    terminated(take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_'), char('='))(i)
}

impl<'a> Fields<'a> {
    /// Reads every `key=value` token from `rest_offset` to the end of `line`.
    fn parse(specs: &'static [Spec], line: &'a str, rest_offset: usize) -> Result<Self, LineError> {
        let mut f = Fields { specs, slots: [const { None }; MAX_FIELDS], end: line.len() };
        let mut pos = rest_offset.min(line.len());
        loop {
            let rest = line[pos..].trim_start_matches([' ', '\t']);
            pos = line.len() - rest.len();
            if rest.is_empty() {
                return Ok(f);
            }
            let token = pos;
            let Ok((after_key, key)) = key_eq(rest) else {
                return Err(LineError::new(token, token_len(line, token), f.expected_next()));
            };
            let value_offset = line.len() - after_key.len();
            let index = specs.iter().position(|s| s.key == key).filter(|&i| i < MAX_FIELDS);
            let Some(index) = index else {
                let len = match scan_value(line, value_offset) {
                    Ok((_, value_len, _)) => value_offset + value_len - token,
                    Err(_) => token_len(line, token),
                };
                return Err(LineError::new(token, len, f.expected_next()));
            };
            let (raw, value_len, quoted) = scan_value(line, value_offset)?;
            let token_len = value_offset + value_len - token;
            if f.slots[index].is_some() {
                return Err(LineError::new(token, token_len, format!("at most one `{key}=`")));
            }
            let spec = &specs[index];
            let (err_offset, err_len) = if value_len == 0 { (token, token_len) } else { (value_offset, value_len) };
            let val = convert(spec, raw, quoted, err_offset, err_len)?;
            f.slots[index] = Some(Slot { val, offset: token, len: token_len });
            pos = value_offset + value_len;
        }
    }

    /// Describes what may come next: the required keys still missing, else the optional ones or the end of line.
    fn expected_next(&self) -> String {
        let unseen = |required: bool| -> Vec<String> {
            self.specs
                .iter()
                .zip(&self.slots)
                .filter(|(s, slot)| s.required == required && slot.is_none())
                .map(|(s, _)| format!("`{}={}`", s.key, s.syntax))
                .collect()
        };
        let required = unseen(true);
        match required.len() {
            0 => {}
            1 => return required.join(""),
            _ => return format!("one of {}", required.join(", ")),
        }
        let optional = unseen(false);
        match optional.len() {
            0 => "end of line".to_string(),
            1 => format!("{} or end of line", optional.join("")),
            _ => format!("one of {} or end of line", optional.join(", ")),
        }
    }

    fn lookup(&self, key: &str) -> Result<(&Spec, Option<&Slot<'a>>), LineError> {
        let index = self.specs.iter().position(|s| s.key == key).ok_or_else(|| self.internal(key))?;
        Ok((&self.specs[index], self.slots.get(index).and_then(Option::as_ref)))
    }

    /// The value of `key`, or the "missing key" error when it is required.
    fn get(&self, key: &str) -> Result<Option<&Val<'a>>, LineError> {
        match self.lookup(key)? {
            (spec, None) if spec.required => {
                Err(LineError::new(self.end, 0, format!("`{}={}`", spec.key, spec.syntax)))
            }
            (_, slot) => Ok(slot.map(|s| &s.val)),
        }
    }

    /// An error about the token of `key`, which the caller knows is present.
    fn error_at(&self, key: &str, expected: &'static str) -> LineError {
        match self.lookup(key) {
            Ok((_, Some(slot))) => LineError::new(slot.offset, slot.len, expected),
            _ => self.internal(key),
        }
    }

    /// A bug: a builder asked for a field its event does not declare, or with the wrong kind.
    fn internal(&self, key: &str) -> LineError {
        LineError::new(self.end, 0, format!("a declared field `{key}` (internal error in the mm event table)"))
    }

    fn opt_num(&self, key: &str) -> Result<Option<u64>, LineError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Val::Num(n)) => Ok(Some(*n)),
            Some(_) => Err(self.internal(key)),
        }
    }

    fn num(&self, key: &str) -> Result<u64, LineError> {
        self.opt_num(key)?.ok_or_else(|| self.internal(key))
    }

    fn u32(&self, key: &str) -> Result<u32, LineError> {
        u32::try_from(self.num(key)?).map_err(|_| self.internal(key))
    }

    fn int(&self, key: &str) -> Result<i64, LineError> {
        match self.get(key)? {
            Some(Val::Int(n)) => Ok(*n),
            _ => Err(self.internal(key)),
        }
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, LineError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Val::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.internal(key)),
        }
    }

    fn access(&self, key: &str) -> Result<Access, LineError> {
        match self.get(key)? {
            Some(Val::Access(a)) => Ok(*a),
            _ => Err(self.internal(key)),
        }
    }

    fn batch(&self, key: &str) -> Result<BatchKind, LineError> {
        match self.get(key)? {
            Some(Val::Batch(b)) => Ok(*b),
            _ => Err(self.internal(key)),
        }
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, LineError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Val::Str(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(self.internal(key)),
        }
    }

    fn string(&self, key: &str) -> Result<String, LineError> {
        self.opt_string(key)?.ok_or_else(|| self.internal(key))
    }
}

/// Scans the value at `offset`: a token up to the next blank, or a quoted string.
///
/// Returns the value (unescaped), its byte length in the line and whether it was quoted.
fn scan_value(line: &str, offset: usize) -> Result<(Cow<'_, str>, usize, bool), LineError> {
    let s = &line[offset..];
    let Some(body) = s.strip_prefix('"') else {
        let n = s.find([' ', '\t']).unwrap_or(s.len());
        return Ok((Cow::Borrowed(&s[..n]), n, false));
    };
    let bytes = body.as_bytes();
    let mut owned: Option<String> = None;
    let mut literal_start = 0;
    let mut k = 0;
    loop {
        let Some(d) = memchr2(b'"', b'\\', &bytes[k..]) else {
            return Err(LineError::new(line.len(), 0, "a closing `\"`"));
        };
        let at = k + d;
        if bytes[at] == b'"' {
            let value = match owned {
                Some(mut o) => {
                    o.push_str(&body[literal_start..at]);
                    Cow::Owned(o)
                }
                None => Cow::Borrowed(&body[..at]),
            };
            let len = at + 2;
            return match s.as_bytes().get(len) {
                None | Some(b' ' | b'\t') => Ok((value, len, true)),
                Some(_) => Err(LineError::at_token(line, offset + len, "a blank after the closing `\"`")),
            };
        }
        let escaped = match body[at + 1..].chars().next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('0') => '\0',
            other => {
                let len = 1 + other.map_or(0, char::len_utf8);
                let expected = "an escape `\\\"`, `\\\\`, `\\n`, `\\r`, `\\t` or `\\0`";
                return Err(LineError::new(offset + 1 + at, len, expected));
            }
        };
        let o = owned.get_or_insert_with(String::new);
        o.push_str(&body[literal_start..at]);
        o.push(escaped);
        k = at + 2;
        literal_start = k;
    }
}

/// Why a number did not parse.
enum NumError {
    Syntax,
    Overflow,
}

/// Parses a decimal or `0x` hex `u64`.
fn parse_num(s: &str) -> Result<u64, NumError> {
    let number = alt((map(preceded(tag_no_case("0x"), hex_digit1), |h| (h, 16)), map(digit1, |d| (d, 10))));
    let (_, (digits, radix)) =
        all_consuming(number)(s).map_err(|_: nom::Err<nom::error::Error<&str>>| NumError::Syntax)?;
    u64::from_str_radix(digits, radix).map_err(|_| NumError::Overflow)
}

/// Parses a size: a number, or a decimal number with a `K`, `M` or `G` suffix (binary multiples).
fn parse_size(s: &str) -> Result<u64, NumError> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K') => (&s[..s.len() - 1], 10),
        Some(b'M') => (&s[..s.len() - 1], 20),
        Some(b'G') => (&s[..s.len() - 1], 30),
        _ => return parse_num(s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumError::Syntax);
    }
    let n: u64 = digits.parse().map_err(|_| NumError::Overflow)?;
    n.checked_mul(1 << shift).ok_or(NumError::Overflow)
}

/// Parses a `MADV_*` name or a decimal `i64`.
fn parse_advice(s: &str) -> Result<i64, NumError> {
    if let Some((_, v)) = MADV_NAMES.iter().find(|(n, _)| *n == s) {
        return Ok(*v);
    }
    all_consuming(recognize(pair(opt(char('-')), digit1)))(s)
        .map_err(|_: nom::Err<nom::error::Error<&str>>| NumError::Syntax)?;
    s.parse().map_err(|_| NumError::Overflow)
}

/// Reads a raw value as `spec` says; errors point at `err_offset..+err_len` (the value, or the token if empty).
fn convert<'a>(
    spec: &Spec,
    raw: Cow<'a, str>,
    quoted: bool,
    err_offset: usize,
    err_len: usize,
) -> Result<Val<'a>, LineError> {
    let bad = |what: &str| LineError::new(err_offset, err_len, format!("{what} for `{}`", spec.key));
    let num_err = |e: NumError, what: &str| match e {
        NumError::Syntax => bad(what),
        NumError::Overflow => bad("a number that fits in 64 bits"),
    };
    let bits = |names: &[(&str, u64)], zero: &str, what: &str| {
        parse_bits(&raw, names, zero).map(Val::Num).map_err(|part| {
            // Point at the first unknown part when the value was written plainly.
            let mut part_offset = 0;
            for p in raw.split('|') {
                if p == part && !p.is_empty() && !quoted {
                    return LineError::new(err_offset + part_offset, p.len(), format!("{what} for `{}`", spec.key));
                }
                part_offset += p.len() + 1;
            }
            bad(what)
        })
    };
    match spec.kind {
        Kind::Str => Ok(Val::Str(raw)),
        Kind::Num => parse_num(&raw).map(Val::Num).map_err(|e| num_err(e, "a number (decimal or `0x` hex)")),
        Kind::Size => parse_size(&raw)
            .map(Val::Num)
            .map_err(|e| num_err(e, "a size (decimal with an optional `K`, `M` or `G` suffix, or `0x` hex)")),
        Kind::U32 => match parse_num(&raw) {
            Ok(n) if u32::try_from(n).is_ok() => Ok(Val::Num(n)),
            Ok(_) | Err(NumError::Overflow) => Err(bad("a number that fits in 32 bits")),
            Err(NumError::Syntax) => Err(bad("a number (decimal or `0x` hex)")),
        },
        Kind::Bool => match &*raw {
            "0" => Ok(Val::Bool(false)),
            "1" => Ok(Val::Bool(true)),
            _ => Err(bad("`0` or `1`")),
        },
        Kind::Batch => BatchKind::from_name(&raw)
            .map(Val::Batch)
            .ok_or_else(|| bad("`lru_add`, `lru_deactivate`, `lru_lazyfree`, `lru_activate` or `mlock`")),
        Kind::Access => match &*raw {
            "read" => Ok(Val::Access(Access::Read)),
            "write" => Ok(Val::Access(Access::Write)),
            "exec" => Ok(Val::Access(Access::Exec)),
            _ => Err(bad("`read`, `write` or `exec`")),
        },
        Kind::Prot => bits(PROT_NAMES, "PROT_NONE", "`PROT_*` names joined by `|`, `PROT_NONE` or `0`"),
        Kind::MapFlags => bits(MAP_NAMES, "0", "`MAP_*` names joined by `|`, or `0`"),
        Kind::MremapFlags => bits(MREMAP_NAMES, "0", "`MREMAP_*` names joined by `|`, or `0`"),
        Kind::Advice => parse_advice(&raw).map(Val::Int).map_err(|e| num_err(e, "a `MADV_*` name or a decimal number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_fits_the_slot_array_and_names_are_unique() {
        for (i, def) in EVENTS.iter().enumerate() {
            assert!(def.fields.len() <= MAX_FIELDS, "{}", def.name);
            assert!(EVENTS[..i].iter().all(|d| d.name != def.name), "{}", def.name);
        }
    }

    #[test]
    fn numbers_and_sizes() {
        assert!(matches!(parse_num("0x1F"), Ok(31)));
        assert!(matches!(parse_num("0X1f"), Ok(31)));
        assert!(matches!(parse_num("42"), Ok(42)));
        assert!(matches!(parse_num("+42"), Err(NumError::Syntax)));
        assert!(matches!(parse_num("0x"), Err(NumError::Syntax)));
        assert!(matches!(parse_num(""), Err(NumError::Syntax)));
        assert!(matches!(parse_num("18446744073709551616"), Err(NumError::Overflow)));
        assert!(matches!(parse_num("0x10000000000000000"), Err(NumError::Overflow)));
        assert!(matches!(parse_size("64K"), Ok(65536)));
        assert!(matches!(parse_size("2M"), Ok(0x20_0000)));
        assert!(matches!(parse_size("1G"), Ok(0x4000_0000)));
        assert!(matches!(parse_size("0x10K"), Err(NumError::Syntax)));
        assert!(matches!(parse_size("K"), Err(NumError::Syntax)));
        assert!(matches!(parse_size("17179869184G"), Err(NumError::Overflow)));
        assert!(matches!(parse_advice("MADV_FREE"), Ok(8)));
        assert!(matches!(parse_advice("-3"), Ok(-3)));
        assert!(matches!(parse_advice("9223372036854775808"), Err(NumError::Overflow)));
        assert!(matches!(parse_advice("MADV_BOGUS"), Err(NumError::Syntax)));
    }

    #[test]
    fn store_lines_parse_and_print_back() {
        use crate::lexer::lex_prefix;
        let line = "             app-100     [000]     0.000100: store: addr=0x7f0000001000 value=42";
        let prefix = lex_prefix(line).unwrap_or_else(|e| panic!("{e:?}"));
        let op = parse_op(line, &prefix).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(op, Op::Store { addr: 0x7f00_0000_1000, value: 42 });
        let ev = mmdb_model::Event { comm: "app".into(), pid: 100, cpu: 0, ts_ns: 100_000, op };
        assert_eq!(crate::format_event(&ev), line);
        let line = "app-1 [000] 0.1: store: value=0xffffffffffffffff addr=0x1000";
        let prefix = lex_prefix(line).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(parse_op(line, &prefix), Ok(Op::Store { addr: 0x1000, value: u64::MAX }));
        let line = "app-1 [000] 0.1: store: addr=0x1000";
        let prefix = lex_prefix(line).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(parse_op(line, &prefix).is_err_and(|e| e.expected.contains("value=N")));
    }

    #[test]
    fn quoted_values_unescape() {
        let line = r#"x="a\"b\\c\nd" y"#;
        let (v, len, quoted) = scan_value(line, 2).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((&*v, len, quoted), ("a\"b\\c\nd", 12, true));
        assert!(matches!(scan_value(r#"x="ab"#, 2), Err(LineError { offset: 5, len: 0, .. })));
        assert!(matches!(scan_value(r#"x="a\qb""#, 2), Err(LineError { offset: 4, len: 2, .. })));
        assert!(matches!(scan_value(r#"x="ab"c"#, 2), Err(LineError { offset: 6, len: 1, .. })));
    }
}
