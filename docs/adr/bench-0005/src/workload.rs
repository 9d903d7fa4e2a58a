//! The rows Rigel's writer stores per create and per partial update, built like the real layout.
//!
//! A create of the bench template entity (8 attributes) is 32 row writes in 6 tables plus 2
//! absent-key reads; a partial update of one number attribute is 1 record read + 1 record
//! write, 1 value-index remove + 1 insert, 1 series lookup and 1 history-instance insert.

/// Tiny deterministic PRNG (xorshift64*), so every engine sees the same data shapes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// FNV-1a, for the 8-byte type and path hashes of the value index.
pub fn hash(s: &str) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.to_be_bytes()
}

pub const TYPE_IRI: &str = "https://uri.etsi.org/ngsi-ld/default-context/BenchVehicle";
const NS: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// The template's 8 attributes.
pub const ATTRS: [&str; 8] = [
    "brand", "mileage", "speed", "temperature", "rpm", "status", "location", "fuel",
];
/// Which attribute each of the 10 history instances belongs to (two have a second instance:
/// a sub-property / a second dataset id), so 8 series and 10 instances per create.
const INSTANCE_ATTR: [usize; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 1, 6];

/// Value kinds of the 11 value-index rows of one create: (path, tag, kind).
/// kind 0: 8 random bytes (a number); 1: a short string of few distinct values; 2: a 12-char
/// geohash of a random point.
const VALUE_ROWS: [(&str, u8, u8); 11] = [
    ("mileage", 2, 0),
    ("speed", 2, 0),
    ("temperature", 2, 0),
    ("rpm", 2, 0),
    ("fuel", 2, 0),
    ("fuel.capacity", 2, 0),
    ("brand", 3, 1),
    ("status", 3, 1),
    ("brand.model", 3, 1),
    ("location", 5, 2),
    ("location.area", 5, 2),
];
const STRINGS: [&str; 6] = ["ok", "Volvo", "Seat", "failed", "Tesla", "idle"];
const GEOHASH: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
/// Index of "mileage" in VALUE_ROWS (the attribute a partial update changes).
pub const MILEAGE_ROW: usize = 0;
pub const MILEAGE_ATTR: &str = "mileage";

/// Default tenant: the empty name, escaped and terminated by 00.
const TENANT: &[u8] = b"\x00";

pub fn entity_id(run: u64, n: u64) -> String {
    format!("urn:ngsi-ld:BenchVehicle:r{run}-c{n}")
}

/// tenant ‖ id: the key of `entities` and `history_headers`.
pub fn entity_key(id: &str) -> Vec<u8> {
    let mut k = TENANT.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

/// ~1,100-byte binary record: id, type, 8 attributes with IRIs (prefix-coded like codec.rs:
/// one byte + local name), values, timestamps; text mostly, some random bytes.
pub fn record(id: &str, rng: &mut Rng) -> Vec<u8> {
    let mut r = Vec::with_capacity(1_150);
    r.push(2); // record format
    r.extend_from_slice(&rng.next().to_be_bytes()); // version
    r.push(id.len() as u8);
    r.extend_from_slice(id.as_bytes());
    r.extend_from_slice(b"\x01\x01BenchVehicle");
    for (i, a) in ATTRS.iter().enumerate() {
        r.push(1);
        r.push(a.len() as u8);
        r.extend_from_slice(a.as_bytes());
        r.extend_from_slice(b"\x01Property");
        r.extend_from_slice(&rng.next().to_be_bytes());
        r.extend_from_slice(&1_714_557_600u64.to_be_bytes()); // observedAt
        r.extend_from_slice(&1_714_557_600u64.to_be_bytes()); // createdAt
        r.extend_from_slice(&1_714_557_600u64.to_be_bytes()); // modifiedAt
        // unit code / sub-properties / descriptions: text of realistic entropy
        let words = ["unitCode", "KMT", "providedBy", "urn:ngsi-ld:Device:", "observedBy"];
        while r.len() < 140 * (i + 1) {
            r.extend_from_slice(words[(rng.next() % 5) as usize].as_bytes());
        }
    }
    r.truncate(1_100);
    r
}

/// One value-index row: type hash ‖ path hash ‖ tag ‖ value ‖ 00 ‖ id.
pub fn value_row(path: &str, tag: u8, kind: u8, id: &str, rng: &mut Rng) -> Vec<u8> {
    let mut k = Vec::with_capacity(80);
    k.extend_from_slice(&hash(TYPE_IRI));
    k.extend_from_slice(&hash(path));
    k.push(tag);
    match kind {
        0 => k.extend_from_slice(&rng.next().to_be_bytes()),
        1 => k.extend_from_slice(STRINGS[(rng.next() % STRINGS.len() as u64) as usize].as_bytes()),
        _ => {
            let x = rng.next();
            for i in 0..12 {
                k.push(GEOHASH[((x >> (i * 5)) & 31) as usize]);
            }
        }
    }
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The `mileage` number row of `id` after `generation` updates: random-looking but
/// reproducible, so an update knows the row to remove.
pub fn mileage_row(id: &str, generation: u32) -> Vec<u8> {
    let (p, t, kind) = VALUE_ROWS[MILEAGE_ROW];
    let mut rng = Rng(u64::from_be_bytes(hash(&format!("{id}#{generation}"))) | 1);
    value_row(p, t, kind, id, &mut rng)
}

/// tenant ‖ id ‖ 00 ‖ attribute IRI: a `history_series` key.
pub fn series_key(id: &str, attr: &str) -> Vec<u8> {
    let mut k = TENANT.to_vec();
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k.extend_from_slice(NS.as_bytes());
    k.extend_from_slice(attr.as_bytes());
    k
}

/// series ‖ time ‖ seq ‖ index (28 bytes): a `history_instances` key.
pub fn instance_key(series: u64, time_us: i64, seq: u64, index: u32) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..8].copy_from_slice(&series.to_be_bytes());
    k[8..16].copy_from_slice(&((time_us as u64) ^ (1 << 63)).to_be_bytes());
    k[16..24].copy_from_slice(&seq.to_be_bytes());
    k[24..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A history instance value of 40-80 bytes.
pub fn instance_value(rng: &mut Rng) -> Vec<u8> {
    let len = 40 + (rng.next() % 41) as usize;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(b"\x02\x01Property");
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// What one create asks the writer to store (built on the submitter, like the HTTP layer
/// encodes on its own task).
pub struct Create {
    pub key: Vec<u8>,
    pub record: Vec<u8>,
    pub type_key: Vec<u8>,
    pub value_rows: Vec<Vec<u8>>,
    pub header: Vec<u8>,
    /// 8 series keys; the writer numbers the series.
    pub series: Vec<Vec<u8>>,
    /// 10 instances: (attribute index, value).
    pub instances: Vec<(usize, Vec<u8>)>,
}

pub fn create(id: &str, rng: &mut Rng) -> Create {
    let key = entity_key(id);
    let mut type_key = TENANT.to_vec();
    type_key.extend_from_slice(TYPE_IRI.as_bytes());
    type_key.push(0);
    type_key.extend_from_slice(id.as_bytes());
    let value_rows = VALUE_ROWS
        .iter()
        .enumerate()
        .map(|(i, &(p, t, kind))| {
            if i == MILEAGE_ROW {
                mileage_row(id, 0)
            } else {
                value_row(p, t, kind, id, rng)
            }
        })
        .collect();
    let mut header = Vec::with_capacity(80);
    header.extend_from_slice(b"\x01\x01BenchVehicle");
    while header.len() < 80 {
        header.extend_from_slice(&rng.next().to_le_bytes());
    }
    header.truncate(80);
    Create {
        record: record(id, rng),
        type_key,
        value_rows,
        header,
        series: ATTRS.iter().map(|a| series_key(id, a)).collect(),
        instances: INSTANCE_ATTR.iter().map(|&a| (a, instance_value(rng))).collect(),
        key,
    }
}

/// A partial update of `mileage`: new record, the old index row to remove and a new one.
pub struct Update {
    pub key: Vec<u8>,
    pub record: Vec<u8>,
    pub old_row: Vec<u8>,
    pub new_row: Vec<u8>,
    pub series_key: Vec<u8>,
    pub instance: Vec<u8>,
}

pub enum Op {
    Create(Box<Create>),
    Update(Box<Update>),
}

impl Op {
    /// Bytes this op adds to the write-ahead-log frame (its stored record, as Rigel's redo
    /// record carries each applied put's record).
    pub fn wal_bytes(&self) -> &[u8] {
        match self {
            Op::Create(c) => &c.record,
            Op::Update(u) => &u.record,
        }
    }
}
