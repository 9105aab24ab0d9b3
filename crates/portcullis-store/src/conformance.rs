//! The behaviour every [`Store`] must have, as one suite run against each implementation (memory
//! and every Redis mode), so that a store swap cannot change what the middlewares observe.
//!
//! [`run`] returns the first broken expectation as an error instead of panicking, so it can be
//! called from any test harness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Store;

static RUNS: AtomicU64 = AtomicU64::new(0);

/// A key prefix no earlier run against the same server used.
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    format!("conformance:{nanos}:{run}:")
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

async fn get(store: &dyn Store, key: &str) -> Result<Option<Vec<u8>>, String> {
    store
        .get(key)
        .await
        .map_err(|e| format!("get {key:?}: {e}"))
}

/// Runs every check against `store`; the error names the first expectation that failed.
pub async fn run(store: &dyn Store) -> Result<(), String> {
    let p = unique_prefix();
    let long = Duration::from_secs(60);
    let k = |name: &str| format!("{p}{name}");
    let err = |what: &str, e: crate::StoreError| format!("{what}: {e}");

    // Absent keys.
    check!(
        get(store, &k("missing")).await?.is_none(),
        "missing key found"
    );
    check!(
        !store
            .delete(&k("missing"))
            .await
            .map_err(|e| err("delete missing", e))?,
        "delete of a missing key reported a removal"
    );

    // Round trip, including bytes that are not UTF-8 and an empty value (present, not absent).
    let binary = [0u8, 255, 10, 13, 0, 128];
    store
        .set(&k("bin"), &binary, long)
        .await
        .map_err(|e| err("set bin", e))?;
    check!(
        get(store, &k("bin")).await? == Some(binary.to_vec()),
        "binary value did not round-trip"
    );
    store
        .set(&k("empty"), b"", long)
        .await
        .map_err(|e| err("set empty", e))?;
    check!(
        get(store, &k("empty")).await? == Some(Vec::new()),
        "empty value read back as absent or non-empty"
    );
    let big = vec![b'x'; 256 * 1024];
    store
        .set(&k("big"), &big, long)
        .await
        .map_err(|e| err("set big", e))?;
    check!(
        get(store, &k("big")).await?.as_deref() == Some(big.as_slice()),
        "large value did not round-trip"
    );

    // Keys with spaces, braces (Cluster hash tags), colons and non-ASCII text.
    for name in ["with space", "{tag}x", "a:b:c", "clé-ü-日本"] {
        store
            .set(&k(name), name.as_bytes(), long)
            .await
            .map_err(|e| err("set odd key", e))?;
        check!(
            get(store, &k(name)).await?.as_deref() == Some(name.as_bytes()),
            "key {name:?} did not round-trip"
        );
    }

    // Overwrite.
    store
        .set(&k("over"), b"one", long)
        .await
        .map_err(|e| err("set over", e))?;
    store
        .set(&k("over"), b"two", long)
        .await
        .map_err(|e| err("set over again", e))?;
    check!(
        get(store, &k("over")).await? == Some(b"two".to_vec()),
        "set did not replace the value"
    );

    // set_if_absent.
    check!(
        store
            .set_if_absent(&k("nx"), b"first", long)
            .await
            .map_err(|e| err("set_if_absent", e))?,
        "set_if_absent on an absent key did not store"
    );
    check!(
        !store
            .set_if_absent(&k("nx"), b"second", long)
            .await
            .map_err(|e| err("set_if_absent again", e))?,
        "set_if_absent on a present key stored"
    );
    check!(
        get(store, &k("nx")).await? == Some(b"first".to_vec()),
        "set_if_absent replaced a present value"
    );

    // delete.
    check!(
        store.delete(&k("nx")).await.map_err(|e| err("delete", e))?,
        "delete of a present key reported no removal"
    );
    check!(
        get(store, &k("nx")).await?.is_none(),
        "deleted key still present"
    );
    check!(
        !store
            .delete(&k("nx"))
            .await
            .map_err(|e| err("delete again", e))?,
        "second delete reported a removal"
    );

    // get_many: order kept, absent keys as None, keys spread over many Cluster slots.
    let names: Vec<String> = (0..12).map(|i| k(&format!("many-{i}"))).collect();
    for (i, name) in names.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        store
            .set(name, format!("v{i}").as_bytes(), long)
            .await
            .map_err(|e| err("set many", e))?;
    }
    let values = store
        .get_many(&names)
        .await
        .map_err(|e| err("get_many", e))?;
    check!(
        values.len() == names.len(),
        "get_many returned {} values for {} keys",
        values.len(),
        names.len()
    );
    for (i, value) in values.iter().enumerate() {
        let expected = (i % 3 != 0).then(|| format!("v{i}").into_bytes());
        check!(
            *value == expected,
            "get_many value {i} is {value:?}, expected {expected:?}"
        );
    }
    check!(
        store
            .get_many(&[])
            .await
            .map_err(|e| err("get_many of nothing", e))?
            .is_empty(),
        "get_many of no keys returned values"
    );

    // delete_if_equals.
    store
        .set(&k("lock"), b"owner-a", long)
        .await
        .map_err(|e| err("set lock", e))?;
    check!(
        !store
            .delete_if_equals(&k("lock"), b"owner-b")
            .await
            .map_err(|e| err("delete_if_equals other", e))?,
        "delete_if_equals removed another owner's value"
    );
    check!(
        get(store, &k("lock")).await? == Some(b"owner-a".to_vec()),
        "delete_if_equals with another value changed the entry"
    );
    check!(
        store
            .delete_if_equals(&k("lock"), b"owner-a")
            .await
            .map_err(|e| err("delete_if_equals", e))?,
        "delete_if_equals with the held value did not remove it"
    );
    check!(
        get(store, &k("lock")).await?.is_none(),
        "released lock still present"
    );
    check!(
        !store
            .delete_if_equals(&k("lock"), b"owner-a")
            .await
            .map_err(|e| err("delete_if_equals missing", e))?,
        "delete_if_equals on a missing key reported a removal"
    );

    // Only one of many concurrent set_if_absent wins.
    let contenders = (0..16).map(|i| {
        let key = k("race");
        async move {
            store
                .set_if_absent(&key, format!("{i}").as_bytes(), long)
                .await
        }
    });
    let results = futures_util::future::join_all(contenders).await;
    let mut winners = 0;
    for result in results {
        if result.map_err(|e| err("concurrent set_if_absent", e))? {
            winners += 1;
        }
    }
    check!(winners == 1, "{winners} concurrent set_if_absent calls won");

    // Expiry: set, set_if_absent, and a TTL replaced by a later set.
    let short = Duration::from_millis(300);
    store
        .set(&k("ttl"), b"v", short)
        .await
        .map_err(|e| err("set ttl", e))?;
    check!(
        store
            .set_if_absent(&k("ttl-nx"), b"v", short)
            .await
            .map_err(|e| err("set_if_absent ttl", e))?,
        "set_if_absent with a TTL did not store"
    );
    store
        .set(&k("ttl-replaced"), b"v", long)
        .await
        .map_err(|e| err("set ttl-replaced", e))?;
    store
        .set(&k("ttl-replaced"), b"w", short)
        .await
        .map_err(|e| err("set ttl-replaced short", e))?;
    store
        .set(&k("ttl-long"), b"v", long)
        .await
        .map_err(|e| err("set ttl-long", e))?;
    check!(
        get(store, &k("ttl")).await?.is_some(),
        "entry expired early"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    check!(
        get(store, &k("ttl")).await?.is_none(),
        "entry outlived its TTL"
    );
    check!(
        get(store, &k("ttl-nx")).await?.is_none(),
        "set_if_absent entry outlived its TTL"
    );
    check!(
        get(store, &k("ttl-replaced")).await?.is_none(),
        "set did not replace the previous TTL"
    );
    check!(
        get(store, &k("ttl-long")).await?.is_some(),
        "entry with a long TTL expired"
    );
    check!(
        store
            .set_if_absent(&k("ttl-nx"), b"again", long)
            .await
            .map_err(|e| err("set_if_absent after expiry", e))?,
        "set_if_absent after expiry did not store"
    );
    check!(
        !store
            .delete(&k("ttl"))
            .await
            .map_err(|e| err("delete expired", e))?,
        "delete of an expired key reported a removal"
    );

    // A zero TTL still expires (it never means "forever").
    store
        .set(&k("zero"), b"v", Duration::ZERO)
        .await
        .map_err(|e| err("set zero ttl", e))?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    check!(
        get(store, &k("zero")).await?.is_none(),
        "zero TTL entry did not expire"
    );

    Ok(())
}
