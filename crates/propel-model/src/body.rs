//! The normalized body of a tracking event: the method's known fields only, kept in
//! name order, which is the order they are stored and exported in (that of the
//! `serde_json::Map` used before, so stored bodies did not change).
//!
//! Names are the field table's `&'static str`, so a body costs no key allocations,
//! and a body is built straight from the request's bytes ([`FieldSlots`]): known
//! fields become `Value`s, every other key and value is skipped unparsed.

use crate::fields::FieldSpec;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Read access to an event body's fields, whether just validated or read back from storage.
pub trait BodyFields {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl BodyFields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventBody(Vec<(&'static str, Value)>);

impl EventBody {
    pub fn with_capacity(fields: usize) -> EventBody {
        EventBody(Vec::with_capacity(fields))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.position(name).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name`, replacing an earlier value.
    pub fn insert(&mut self, name: &'static str, value: Value) {
        match self.position(name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The body as a JSON object (for tests and callers that need a `Value`).
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (*k).cmp(name))
    }
}

impl BodyFields for EventBody {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Serialize for EventBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The values of a JSON object's keys that are in a field table, read in one pass;
/// a key seen twice keeps its last value, as `serde_json::Map` does.
pub struct FieldSlots<'s> {
    specs: &'s [FieldSpec],
    values: Vec<Option<Value>>,
}

impl<'s> FieldSlots<'s> {
    /// Reads `bytes` as one JSON object. `None` when they are not one (malformed, or
    /// another JSON type): the caller then parses them the general way to tell which.
    pub fn read(specs: &'s [FieldSpec], bytes: &[u8]) -> Option<FieldSlots<'s>> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let values = SlotsSeed(specs).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(FieldSlots { specs, values })
    }

    /// The value given for `name`, if it is in the table and was present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.specs.iter().position(|s| s.name == name)?;
        self.values[i].as_ref()
    }

    /// Takes the value given for the table's `i`-th field, if present.
    pub fn take(&mut self, i: usize) -> Option<Value> {
        self.values.get_mut(i)?.take()
    }
}

struct SlotsSeed<'s>(&'s [FieldSpec]);

impl<'de> DeserializeSeed<'de> for SlotsSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SlotsSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.0.len()];
        while let Some(slot) = map.next_key_seed(KeySeed(self.0))? {
            match slot {
                Some(i) => values[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A key, as the index of its field in the table (`None`: not a field of the table).
struct KeySeed<'s>(&'s [FieldSpec]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|s| s.name == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{opt, req, FieldType};
    use serde_json::json;

    const SPECS: [FieldSpec; 3] = [
        req("sessionExternalId", FieldType::SessionId),
        opt("timestamp", FieldType::Timestamp),
        req("productId", FieldType::Int64),
    ];

    #[test]
    fn bodies_keep_name_order_and_serialize_as_a_map_would() {
        let mut b = EventBody::default();
        b.insert("timestamp", json!("t"));
        b.insert("productId", json!(5));
        b.insert("sessionExternalId", json!("s"));
        b.insert("productId", json!(6));
        assert_eq!(b.len(), 3);
        assert_eq!(b.get("productId"), Some(&json!(6)));
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            serde_json::to_string(&Value::Object(b.to_map())).unwrap()
        );
    }

    #[test]
    fn slots_read_known_keys_last_one_winning_and_skip_the_rest() {
        let s = FieldSlots::read(
            &SPECS,
            br#"{"productId": 1, "x": {"deep": [1, 2]}, "productId": 2, "session\u0045xternalId": "a"}"#,
        )
        .unwrap();
        assert_eq!(s.get("productId"), Some(&json!(2)));
        assert_eq!(s.get("sessionExternalId"), Some(&json!("a")));
        assert_eq!(s.get("timestamp"), None);
        assert_eq!(s.get("x"), None);
        for not_an_object in [&b"[1]"[..], b"{\"a\":", b"{} x", b"3", b""] {
            assert!(FieldSlots::read(&SPECS, not_an_object).is_none());
        }
    }
}
