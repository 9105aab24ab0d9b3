//! A token bucket shared by every replica, for the `rateLimit` middleware's `redis` option.
//!
//! One Lua script per request takes a token atomically on the server, with the server's clock
//! (`TIME`), so replicas whose clocks differ still share one schedule. The bucket is stored as
//! the instant it is full again (GCRA, the token bucket's equivalent), in microseconds, and
//! expires once that instant has passed: an idle source costs nothing.

use std::time::Duration;

use redis::Value;

use super::{RedisStore, unexpected};
use crate::StoreError;

/// KEYS[1]: the bucket. ARGV: interval between tokens, bucket size (burst × interval) and the
/// longest wait accepted, in microseconds. Returns {1, wait} when a token was taken (the
/// request may go after `wait` µs), {0, wait} when it would have to wait longer.
const TAKE_TOKEN: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
if full_at < now then full_at = now end
local after = full_at + interval
local wait = after - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_delay then return {0, wait} end
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.floor((after - now) / 1000) + 1000)
return {1, wait}
";

/// What [`RedisStore::take_token`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenGrant {
    /// A token was taken; the request may go after this wait.
    Granted(Duration),
    /// No token within the accepted wait; the next one comes after this time.
    Refused(Duration),
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl RedisStore {
    /// Takes one token of the bucket `key`: a token every `interval`, at most `tolerance /
    /// interval` at once; a request may wait up to `max_delay` for its token.
    pub async fn take_token(
        &self,
        key: &str,
        interval: Duration,
        tolerance: Duration,
        max_delay: Duration,
    ) -> Result<TokenGrant, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(TAKE_TOKEN)
            .arg(1)
            .arg(key)
            .arg(micros(interval))
            .arg(micros(tolerance))
            .arg(micros(max_delay));
        let value: Value = self.query("take_token", &cmd).await?;
        let Value::Array(items) = &value else {
            return Err(unexpected("take_token", &value));
        };
        match items.as_slice() {
            [Value::Int(granted), Value::Int(wait)] => {
                let wait = Duration::from_micros(u64::try_from(*wait).unwrap_or(0));
                Ok(if *granted == 1 {
                    TokenGrant::Granted(wait)
                } else {
                    TokenGrant::Refused(wait)
                })
            }
            _ => Err(unexpected("take_token", &value)),
        }
    }
}
