//! A console answer as a result set: named text columns and rows, written as
//! RowDescription, DataRows and CommandComplete (`SHOW`), as PgBouncer's console does.

use bytes::{BufMut, BytesMut};

use crate::protocol::backend::{command_complete, put_message};
use crate::protocol::tags::backend as tag;

/// OIDs of the column types the console uses.
const TEXT_OID: u32 = 25;
const INT8_OID: u32 = 20;

/// A column's type: what psql aligns and drivers decode by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

#[derive(Debug, Default)]
pub struct Table {
    columns: Vec<(&'static str, Kind)>,
    rows: Vec<Vec<Option<String>>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Kind)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one value per column (`None` is NULL).
    pub fn row(&mut self, values: Vec<Option<String>>) {
        debug_assert_eq!(values.len(), self.columns.len());
        self.rows.push(values);
    }

    /// Writes the whole result set, ending with CommandComplete `SHOW`.
    pub fn write(&self, out: &mut BytesMut) {
        put_message(out, tag::ROW_DESCRIPTION, |b| {
            b.put_i16(self.columns.len() as i16);
            for (name, kind) in &self.columns {
                b.put_slice(name.as_bytes());
                b.put_u8(0);
                b.put_u32(0); // no table
                b.put_i16(0); // no column number
                b.put_u32(match kind {
                    Kind::Text => TEXT_OID,
                    Kind::Int => INT8_OID,
                });
                b.put_i16(-1); // variable size
                b.put_i32(-1); // no type modifier
                b.put_i16(0); // text format
            }
        });
        for row in &self.rows {
            put_message(out, tag::DATA_ROW, |b| {
                b.put_i16(row.len() as i16);
                for value in row {
                    match value {
                        Some(v) => {
                            b.put_i32(v.len() as i32);
                            b.put_slice(v.as_bytes());
                        }
                        None => b.put_i32(-1),
                    }
                }
            });
        }
        command_complete(out, "SHOW");
    }
}

/// A text value.
pub fn text(value: impl Into<String>) -> Option<String> {
    Some(value.into())
}

/// A number's value.
pub fn int(value: usize) -> Option<String> {
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_description_rows_and_completion() {
        let mut t = Table::new(&[("name", Kind::Text), ("n", Kind::Int)]);
        t.row(vec![text("a"), None]);
        let mut out = BytesMut::new();
        t.write(&mut out);
        assert_eq!(out[0], b'T');
        let t_len = u32::from_be_bytes(out[1..5].try_into().unwrap()) as usize;
        let row = &out[1 + t_len..];
        assert_eq!(row[0], b'D');
        // Two values: "a" (length 1) and NULL (length -1).
        assert_eq!(&row[5..7], &2i16.to_be_bytes());
        assert_eq!(&row[7..11], &1i32.to_be_bytes());
        assert_eq!(row[11], b'a');
        assert_eq!(&row[12..16], &(-1i32).to_be_bytes());
        assert_eq!(&row[16..], b"C\0\0\0\x09SHOW\0");
    }
}
