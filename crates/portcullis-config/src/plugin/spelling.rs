//! Keys of the plugin blocks matched case-insensitively, as Traefik Hub matches them.
//!
//! Traefik Hub decodes a Middleware's options with Go's JSON decoder, which matches field names
//! regardless of case: `redirectURL`, `clientid` or `Session: {Expiry: 60}` work there. So that
//! such configurations move over unchanged, [`CaseInsensitive`] wraps a deserializer and, for
//! every struct it reads, replaces a key that is not a field name but equals one ignoring ASCII
//! case by that field name, and records it ([`Respelled`]) so the loader can warn and name the
//! canonical spelling. Everything else is left to serde: unknown keys stay errors
//! (`deny_unknown_fields`), a key written twice in two spellings is a duplicate, and the keys of
//! maps (header names of `forwardHeaders`, `authParams`, `discoveryParams`) are user data and
//! are never changed, since only struct fields are matched.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A key written in another spelling than its field's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respelled {
    /// Where the key is, in canonical spelling (`oidc.session.expiry`).
    pub path: String,
    /// The key as written (`Expiry`).
    pub written: String,
}

impl Respelled {
    /// The canonical spelling of the key itself.
    pub fn canonical_key(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

type Log = RefCell<Vec<Respelled>>;

/// A deserializer whose structs accept their field names in any case (see the module).
pub struct CaseInsensitive<'l, D> {
    inner: D,
    log: &'l Log,
    path: String,
}

impl<'l, D> CaseInsensitive<'l, D> {
    /// Wraps `inner`; respelled keys are appended to `log`.
    pub fn new(inner: D, log: &'l Log) -> Self {
        Self {
            inner,
            log,
            path: String::new(),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The field name `key` stands for, when it differs from `key` only by case.
fn canonical(fields: &'static [&'static str], key: &str) -> Option<&'static str> {
    if fields.contains(&key) {
        return None;
    }
    fields
        .iter()
        .copied()
        .find(|field| field.eq_ignore_ascii_case(key))
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.inner.$method($($arg,)* Wrap { inner: visitor, log: self.log, path: self.path, fields: None })
        }
    )*};
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for CaseInsensitive<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf(); deserialize_option();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq();
        deserialize_tuple(len: usize); deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map(); deserialize_identifier(); deserialize_ignored_any();
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            Wrap {
                inner: visitor,
                log: self.log,
                path: self.path,
                fields: Some(fields),
            },
        )
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor whose nested values are read case-insensitively too; `fields` when it reads a
/// struct.
struct Wrap<'l, V> {
    inner: V,
    log: &'l Log,
    path: String,
    fields: Option<&'static [&'static str]>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char); visit_str(&str);
        visit_borrowed_str(&'de str); visit_string(String); visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(CaseInsensitive {
            inner: deserializer,
            log: self.log,
            path: self.path,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(CaseInsensitive {
            inner: deserializer,
            log: self.log,
            path: self.path,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(Seq {
            inner: seq,
            log: self.log,
            path: self.path,
            index: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(Map {
            inner: map,
            log: self.log,
            path: self.path,
            fields: self.fields,
            key: String::new(),
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// Reads the value at `path` case-insensitively.
struct Nested<'l, S> {
    seed: S,
    log: &'l Log,
    path: String,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nested<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(CaseInsensitive {
            inner: deserializer,
            log: self.log,
            path: self.path,
        })
    }
}

struct Seq<'l, A> {
    inner: A,
    log: &'l Log,
    path: String,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        self.inner.next_element_seed(Nested {
            seed,
            log: self.log,
            path,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct Map<'l, A> {
    inner: A,
    log: &'l Log,
    path: String,
    /// The struct's field names; `None` for a map, whose keys are data.
    fields: Option<&'static [&'static str]>,
    /// The last key read, canonical.
    key: String,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.key.clear();
        self.inner.next_key_seed(KeySeed {
            seed,
            fields: self.fields,
            log: self.log,
            path: &self.path,
            key: &mut self.key,
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let path = join(&self.path, &self.key);
        self.inner.next_value_seed(Nested {
            seed,
            log: self.log,
            path,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Reads one key: a struct's key is replaced by its field name when only the case differs.
struct KeySeed<'a, 'l, K> {
    seed: K,
    fields: Option<&'static [&'static str]>,
    log: &'l Log,
    path: &'a str,
    key: &'a mut String,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, '_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        self.seed.deserialize(KeyDeserializer {
            inner: deserializer,
            key: KeyVisitorState {
                fields: self.fields,
                log: self.log,
                path: self.path,
                key: self.key,
            },
        })
    }
}

struct KeyVisitorState<'a, 'l> {
    fields: Option<&'static [&'static str]>,
    log: &'l Log,
    path: &'a str,
    key: &'a mut String,
}

impl KeyVisitorState<'_, '_> {
    /// The field name for `written` when it is a respelling (recorded), else `None`.
    fn respell(self, written: &str) -> Option<&'static str> {
        let field = self.fields.and_then(|fields| canonical(fields, written));
        match field {
            Some(field) => {
                self.key.push_str(field);
                self.log.borrow_mut().push(Respelled {
                    path: join(self.path, field),
                    written: written.to_owned(),
                });
            }
            None => self.key.push_str(written),
        }
        field
    }
}

struct KeyDeserializer<'a, 'l, D> {
    inner: D,
    key: KeyVisitorState<'a, 'l>,
}

macro_rules! forward_key_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.inner.$method($($arg,)* KeyVisitor { inner: visitor, key: self.key })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDeserializer<'_, '_, D> {
    type Error = D::Error;

    forward_key_deserialize! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf(); deserialize_option();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq();
        deserialize_tuple(len: usize); deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map(); deserialize_identifier(); deserialize_ignored_any();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

struct KeyVisitor<'a, 'l, V> {
    inner: V,
    key: KeyVisitorState<'a, 'l>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, '_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char);
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.key.respell(v) {
            Some(field) => self.inner.visit_borrowed_str(field),
            None => self.inner.visit_str(v),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match self.key.respell(v) {
            Some(field) => self.inner.visit_borrowed_str(field),
            None => self.inner.visit_borrowed_str(v),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        match self.key.respell(&v) {
            Some(field) => self.inner.visit_borrowed_str(field),
            None => self.inner.visit_string(v),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Outer {
        #[serde(default, rename = "clientID", alias = "clientId")]
        client_id: Option<String>,
        #[serde(default)]
        redirect_url: Option<String>,
        #[serde(default)]
        session: Option<Inner>,
        #[serde(default)]
        headers: IndexMap<String, String>,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        #[serde(default)]
        expiry: Option<u64>,
    }

    fn read(yaml: &str) -> Result<(Outer, Vec<Respelled>), String> {
        let log = Log::default();
        let value: serde_json::Value = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        let outer =
            Outer::deserialize(CaseInsensitive::new(value, &log)).map_err(|e| e.to_string())?;
        Ok((outer, log.into_inner()))
    }

    #[test]
    fn struct_keys_match_in_any_case_and_are_recorded() {
        let (outer, respelled) = read(
            "clientid: a\nredirectURL: /cb\nSession: { Expiry: 60 }\nheaders: { X-User: sub }\nLIST: [{ EXPIRY: 1 }]\n",
        )
        .unwrap();
        assert_eq!(outer.client_id.as_deref(), Some("a"));
        assert_eq!(outer.redirect_url.as_deref(), Some("/cb"));
        assert_eq!(outer.session, Some(Inner { expiry: Some(60) }));
        assert_eq!(outer.list, vec![Inner { expiry: Some(1) }]);
        assert_eq!(
            outer.headers.get_index(0),
            Some((&"X-User".to_owned(), &"sub".to_owned()))
        );
        let mut paths: Vec<(&str, &str)> = respelled
            .iter()
            .map(|r| (r.path.as_str(), r.written.as_str()))
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            vec![
                ("clientID", "clientid"),
                ("list", "LIST"),
                ("list[0].expiry", "EXPIRY"),
                ("redirectUrl", "redirectURL"),
                ("session", "Session"),
                ("session.expiry", "Expiry"),
            ]
        );
        let expiry = respelled.iter().find(|r| r.written == "Expiry").unwrap();
        assert_eq!(expiry.canonical_key(), "expiry");
    }

    #[test]
    fn canonical_keys_and_aliases_are_not_reported() {
        let (outer, respelled) = read("clientId: a\nredirectUrl: /cb\n").unwrap();
        assert_eq!(outer.client_id.as_deref(), Some("a"));
        assert!(respelled.is_empty(), "{respelled:?}");
    }

    #[test]
    fn unknown_and_duplicate_keys_stay_errors() {
        let unknown = read("redirectURI: /cb\n").unwrap_err();
        assert!(unknown.contains("redirectURI"), "{unknown}");
        let duplicate = read("redirectUrl: /a\nRedirectURL: /b\n").unwrap_err();
        assert!(duplicate.contains("duplicate"), "{duplicate}");
    }
}
