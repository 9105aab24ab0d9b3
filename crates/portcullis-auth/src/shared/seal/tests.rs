use super::*;
use crate::clock::ManualClock;

fn sealer(secret: &str) -> Sealer {
    Sealer::derive(secret, "https://idp.example.com", Purpose::Session).unwrap()
}

#[test]
fn round_trip_with_and_without_compression() {
    let s = sealer("secret");
    let text = b"{\"sub\":\"alice\",\"tokens\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    for compress in [false, true] {
        let sealed = s.seal(text, compress).unwrap();
        assert!(!sealed.contains("alice"));
        assert_eq!(s.open(&sealed).unwrap(), text);
    }
    // Two seals of the same value differ (random nonce).
    assert_ne!(s.seal(text, false).unwrap(), s.seal(text, false).unwrap());
}

#[test]
fn every_replica_derives_the_same_key() {
    let sealed = sealer("secret").seal(b"x", true).unwrap();
    assert_eq!(sealer("secret").open(&sealed).unwrap(), b"x");
    assert_eq!(sealer("secret").key_id(), sealer("secret").key_id());
    // Another secret or another issuer gives another key.
    assert_eq!(sealer("other").open(&sealed), Err(SealError::UnknownKey));
    let other_issuer = Sealer::derive("secret", "https://other", Purpose::Session).unwrap();
    assert_eq!(other_issuer.open(&sealed), Err(SealError::UnknownKey));
}

#[test]
fn a_value_sealed_for_one_purpose_never_opens_for_another() {
    let state = Sealer::derive("secret", "https://idp.example.com", Purpose::LoginState).unwrap();
    let sealed = state.seal(b"x", false).unwrap();
    assert!(sealer("secret").open(&sealed).is_err());
}

#[test]
fn any_tampering_is_rejected() {
    let s = sealer("secret");
    let sealed = s.seal(b"hello world, this is a session", true).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for index in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[index] ^= 0x01;
        let text = URL_SAFE_NO_PAD.encode(&changed);
        assert!(s.open(&text).is_err(), "byte {index} flipped was accepted");
    }
}

#[test]
fn truncation_is_rejected() {
    let s = sealer("secret");
    let sealed = s.seal(b"hello world", false).unwrap();
    for len in 0..sealed.len() {
        assert!(s.open(&sealed[..len]).is_err(), "prefix of {len} accepted");
    }
    assert!(s.open("not base64 !").is_err());
    assert_eq!(
        s.open(&"A".repeat(MAX_SEALED_LEN + 1)),
        Err(SealError::TooLarge)
    );
}

#[test]
fn key_rotation_by_key_id() {
    let old = sealer("old-secret");
    let sealed_with_old = old.seal(b"before rotation", true).unwrap();
    let new = sealer("new-secret").keeping(sealer("old-secret"), i64::MAX, Arc::new(SystemClock));
    assert_ne!(new.key_id(), old.key_id());
    // Old values still open; new values are sealed with the new key only.
    assert_eq!(new.open(&sealed_with_old).unwrap(), b"before rotation");
    let sealed_with_new = new.seal(b"after", false).unwrap();
    assert_eq!(old.open(&sealed_with_new), Err(SealError::UnknownKey));
    assert_eq!(
        sealer("new-secret").open(&sealed_with_new).unwrap(),
        b"after"
    );
    // Without the previous key, the old value names an unknown key.
    assert_eq!(
        sealer("new-secret").open(&sealed_with_old),
        Err(SealError::UnknownKey)
    );
}

#[test]
fn decompression_bombs_are_capped() {
    let s = sealer("secret");
    let huge = vec![b'a'; MAX_PLAINTEXT_LEN + 10];
    let sealed = s.seal(&huge, true).unwrap();
    assert!(sealed.len() < MAX_SEALED_LEN);
    assert_eq!(s.open(&sealed), Err(SealError::TooLarge));
}

#[test]
fn a_kept_key_opens_values_only_until_its_limit() {
    let clock = Arc::new(ManualClock::at(1_000));
    let old = sealer("old-secret");
    let sealed = old.seal(b"value", false).unwrap();
    let new = sealer("new-secret").keeping(old, 1_600, clock.clone());
    assert_eq!(new.open(&sealed).unwrap(), b"value");
    let opened = new.open_detailed(&sealed).unwrap();
    assert_eq!(opened.until, Some(1_600));
    // A later rotation keeps the earlier limit of the oldest key.
    let newer = sealer("newer-secret").keeping(new, 5_000, clock.clone());
    assert_eq!(newer.open_detailed(&sealed).unwrap().until, Some(1_600));
    clock.advance(std::time::Duration::from_secs(600));
    assert_eq!(newer.open(&sealed), Err(SealError::UnknownKey));
}

#[test]
fn a_session_secret_root_is_not_derivable_from_the_client_secret() {
    let issuer = "https://idp.example.com";
    let rooted = Sealer::derive_rooted(
        KeyRoot::SessionSecret,
        "same-text",
        issuer,
        Purpose::Session,
    )
    .unwrap();
    let sealed = rooted.seal(b"value", false).unwrap();
    assert_eq!(
        rooted.open_detailed(&sealed).unwrap().root,
        KeyRoot::SessionSecret
    );
    let client = Sealer::derive("same-text", issuer, Purpose::Session).unwrap();
    assert_ne!(client.key_id(), rooted.key_id());
    assert!(client.open(&sealed).is_err());
}
