//! Where counts live: this process, or Redis shared by every replica. Both
//! take one decision per call, atomically, and answer alike.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use super::gcra::Gcra;
use super::window::{Clock, window};
use crate::config::QuotaWindow;

/// What one key may do: a rate with a burst, and maybe a quota.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance {
    /// The rate and burst.
    pub gcra: Gcra,
    /// Requests per calendar window.
    pub quota: Option<(u64, QuotaWindow)>,
}

/// The store's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Whether the request passes.
    pub allowed: bool,
    /// Refused because the quota is spent (else because of the rate).
    pub by_quota: bool,
    /// Microseconds until the bucket is full again.
    pub reset_us: u64,
    /// Microseconds until a refused request would pass.
    pub retry_after_us: u64,
    /// Requests counted in the current quota window, this one included.
    pub quota_used: u64,
    /// Microseconds until the quota window ends.
    pub quota_reset_us: u64,
}

pub(crate) use crate::redis_store::{Redis, StoreError};

const SHARDS: usize = 16;
/// Past this many keys in a shard, keys whose bucket is full again and
/// whose quota window is over are dropped: they hold nothing a fresh key
/// would not.
const SWEEP_AT: usize = 8192;

#[derive(Debug, Clone, Copy)]
struct Entry {
    tat: u64,
    quota_window: u64,
    quota_used: u64,
    quota_end_us: u64,
}

/// Counts in this process.
#[derive(Debug, Default)]
pub(crate) struct Local {
    clock: Clock,
    shards: [Mutex<HashMap<String, Entry>>; SHARDS],
}

impl Local {
    /// A store on the given clock.
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            shards: Default::default(),
        }
    }

    /// Decides one request; with `dry_run`, only reports the key's state.
    pub(crate) fn decide(&self, key: &str, a: &Allowance, dry_run: bool) -> Outcome {
        let now = self.clock.now_us();
        let mut shard = self.shards[shard_of(key)]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = shard.get(key).copied();
        let (win, end_us) = a.quota.map_or((0, 0), |(_, kind)| {
            let (w, end) = window(kind, now / 1_000_000);
            (w, end * 1_000_000)
        });
        let used = entry
            .filter(|e| e.quota_window == win)
            .map_or(0, |e| e.quota_used);
        let stored_tat = entry.map(|e| e.tat);
        let quota_reset_us = end_us.saturating_sub(now);
        if dry_run {
            return Outcome {
                allowed: true,
                by_quota: false,
                reset_us: stored_tat.unwrap_or(now).saturating_sub(now),
                retry_after_us: 0,
                quota_used: used,
                quota_reset_us,
            };
        }
        let step = a.gcra.decide(stored_tat, now);
        let quota_spent = a.quota.is_some_and(|(limit, _)| used >= limit);
        if !step.allowed || quota_spent {
            return Outcome {
                allowed: false,
                by_quota: step.allowed,
                // A quota refusal spends no rate: the bucket as it stands.
                reset_us: if step.allowed {
                    stored_tat.unwrap_or(now).saturating_sub(now)
                } else {
                    step.reset
                },
                retry_after_us: if step.allowed {
                    quota_reset_us
                } else {
                    step.retry_after
                },
                quota_used: used,
                quota_reset_us,
            };
        }
        if shard.len() >= SWEEP_AT {
            shard.retain(|_, e| e.tat > now || e.quota_end_us > now);
        }
        shard.insert(
            key.to_owned(),
            Entry {
                tat: step.tat,
                quota_window: win,
                quota_used: used + 1,
                quota_end_us: end_us,
            },
        );
        Outcome {
            allowed: true,
            by_quota: false,
            reset_us: step.reset,
            retry_after_us: 0,
            quota_used: used + u64::from(a.quota.is_some()),
            quota_reset_us,
        }
    }
}

fn shard_of(key: &str) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0)
}

/// The decision as one Redis script: the rate (GCRA) and the quota are
/// checked and updated together, on Redis's clock (`TIME`), so replicas
/// need not agree on the time and no two can race between read and write.
/// A refused request changes nothing. It mirrors [`Local::decide`].
const SCRIPT_TEXT: &str = r"
local t = redis.call('TIME')
local secs = tonumber(t[1])
local now = secs * 1000000 + tonumber(t[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local qlimit, qkind, dry = tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
local win, win_end = 0, 0
if qlimit > 0 then
  if qkind == 'hour' then
    win = math.floor(secs / 3600); win_end = (win + 1) * 3600
  elseif qkind == 'day' then
    win = math.floor(secs / 86400); win_end = (win + 1) * 86400
  else
    local z = math.floor(secs / 86400) + 719468
    local era = math.floor(z / 146097)
    local doe = z - era * 146097
    local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
      - math.floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
    local mp = math.floor((5 * doy + 2) / 153)
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)
    win = y * 12 + (m - 1)
    local ny, nm = y, m + 1
    if m == 12 then ny, nm = y + 1, 1 end
    local yy = nm <= 2 and ny - 1 or ny
    local e = math.floor(yy / 400)
    local yo = yy - e * 400
    local mq = nm > 2 and nm - 3 or nm + 9
    local dy = math.floor((153 * mq + 2) / 5)
    local de = yo * 365 + math.floor(yo / 4) - math.floor(yo / 100) + dy
    win_end = (e * 146097 + de - 719468) * 86400
  end
end
local used = 0
if qlimit > 0 then
  local v = redis.call('HGET', KEYS[2], tostring(win))
  if v then used = tonumber(v) end
end
local qreset = 0
if qlimit > 0 then qreset = win_end * 1000000 - now end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if dry then return {1, 0, tat - now, 0, used, qreset} end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then return {0, 0, tat - now, allow_at - now, used, qreset} end
if qlimit > 0 and used >= qlimit then return {0, 1, tat - now, qreset, used, qreset} end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
if qlimit > 0 then
  if used == 0 then redis.call('DEL', KEYS[2]) end
  redis.call('HINCRBY', KEYS[2], tostring(win), 1)
  redis.call('EXPIREAT', KEYS[2], win_end + 60)
  used = used + 1
end
return {1, 0, new_tat - now, 0, used, qreset}
";

/// The GCRA and quota decision as one Lua script, loaded once.
static SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(SCRIPT_TEXT));

impl Redis {
    /// Decides one request, or fails within the timeout.
    pub(crate) async fn decide(
        &self,
        key: &str,
        a: &Allowance,
        dry_run: bool,
    ) -> Result<Outcome, StoreError> {
        let mut conn = self.connection()?;
        let (qlimit, qkind) = a.quota.map_or((0, "day"), |(limit, kind)| {
            let kind = match kind {
                QuotaWindow::Hour => "hour",
                QuotaWindow::Day => "day",
                QuotaWindow::Month => "month",
            };
            (limit, kind)
        });
        let mut call = SCRIPT.key(format!("bff:rl:{key}"));
        call.key(format!("bff:q:{key}"))
            .arg(a.gcra.interval)
            .arg(a.gcra.tolerance)
            .arg(qlimit)
            .arg(qkind)
            .arg(if dry_run { "1" } else { "0" });
        let answer: Vec<i64> =
            match tokio::time::timeout(self.timeout(), call.invoke_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(StoreError(e.to_string())),
                Err(_) => return Err(StoreError(format!("no answer within {:?}", self.timeout()))),
            };
        let n = |i: usize| u64::try_from(answer.get(i).copied().unwrap_or(0)).unwrap_or(0);
        Ok(Outcome {
            allowed: n(0) == 1,
            by_quota: n(1) == 1,
            reset_us: n(2),
            retry_after_us: n(3),
            quota_used: n(4),
            quota_reset_us: n(5),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_refills_at_the_rate_and_the_quota_with_its_window() {
        let store = Local::new(Clock::new());
        let a = Allowance {
            gcra: Gcra::new(Duration::from_secs(1), 2),
            quota: Some((3, QuotaWindow::Hour)),
        };
        // The burst, then a refusal that says when to come back.
        assert!(store.decide("k", &a, false).allowed);
        assert!(store.decide("k", &a, false).allowed);
        let refused = store.decide("k", &a, false);
        assert!(!refused.allowed && !refused.by_quota);
        assert_eq!(refused.retry_after_us, 1_000_000);
        assert_eq!(refused.quota_used, 2, "a refusal spends no quota");
        // Steady state: one per second.
        tokio::time::advance(Duration::from_secs(1)).await;
        let third = store.decide("k", &a, false);
        assert!(third.allowed);
        assert_eq!(third.quota_used, 3);
        assert!(!store.decide("k", &a, false).allowed);
        // The quota is spent though the bucket has refilled.
        tokio::time::advance(Duration::from_secs(5)).await;
        let spent = store.decide("k", &a, false);
        assert!(!spent.allowed && spent.by_quota);
        assert_eq!(spent.retry_after_us, spent.quota_reset_us);
        assert!(spent.quota_reset_us <= 3_600_000_000);
        // A new window: a fresh allowance.
        tokio::time::advance(Duration::from_micros(spent.quota_reset_us)).await;
        let renewed = store.decide("k", &a, false);
        assert!(renewed.allowed);
        assert_eq!(renewed.quota_used, 1);
        // Other keys never noticed.
        assert_eq!(store.decide("other", &a, true).quota_used, 0);
    }
}
