//! The load generator of `herd bench serve`: keep-alive HTTP/1.1 connections, each
//! sending its next request as soon as the last one is answered (a closed loop),
//! keys drawn from a uniform or a Zipf mix, every answer checked and timed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::SeedableRng as _;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom as _;
use rand_distr::{Distribution as _, Uniform, Zipf};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// One answer in this many is parsed in full under load; the others are checked for
/// a forecast without parsing, so that checking does not take the server's CPU.
const PARSE_EVERY: u64 = 500;

/// A keep-alive HTTP/1.1 connection to the server.
pub struct Connection {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // Drives the socket; ends when the sender is dropped or the server closes.
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: address.to_string(),
        })
    }

    /// GET `path`: the status and the whole body.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let request = Request::get(path)
            .header(HOST, &self.host)
            .body(Empty::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// The requests a benchmark sends: one forecast path per key, and the horizon each
/// answer must cover.
pub struct Targets {
    pub paths: Vec<String>,
    pub horizon: usize,
}

/// How keys are drawn: uniformly, or by a Zipf law over a fixed random ranking of
/// the keys (so that the popular keys are spread over stores and items).
pub enum KeyMix {
    Uniform(Uniform<usize>),
    Zipf { law: Zipf<f64>, ranking: Vec<usize> },
}

impl KeyMix {
    /// Keys `0..keys`, each as likely.
    pub fn uniform(keys: usize) -> anyhow::Result<Self> {
        Ok(Self::Uniform(Uniform::new(0, keys.max(1))?))
    }

    /// Keys `0..keys` by a Zipf law of `exponent`: the key of rank r is drawn with a
    /// probability proportional to 1 / r^exponent.
    pub fn zipf(keys: usize, exponent: f64, seed: u64) -> anyhow::Result<Self> {
        let law = Zipf::new(keys.max(1) as f64, exponent)
            .with_context(|| format!("a Zipf law of exponent {exponent}"))?;
        let mut ranking: Vec<usize> = (0..keys.max(1)).collect();
        ranking.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
        Ok(Self::Zipf { law, ranking })
    }

    fn draw(&self, rng: &mut Xoshiro256PlusPlus) -> usize {
        match self {
            Self::Uniform(uniform) => uniform.sample(rng),
            Self::Zipf { law, ranking } => {
                // Ranks come as floats in [1, keys].
                let rank = (law.sample(rng) as usize).clamp(1, ranking.len());
                ranking[rank - 1]
            }
        }
    }
}

/// What a pass of requests saw.
#[derive(Debug, Default)]
pub struct Pass {
    /// Answered with a forecast; only these are timed.
    pub answered: u64,
    /// A status other than 200, an answer without a forecast, or no answer.
    pub errors: u64,
    pub first_error: Option<String>,
    pub latencies_ns: Vec<u64>,
    pub seconds: f64,
}

impl Pass {
    fn absorb(&mut self, other: Pass) {
        self.answered += other.answered;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies_ns.extend(other.latencies_ns);
    }

    fn failed(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }

    /// Errors as a share of every request sent.
    pub fn error_share(&self) -> f64 {
        self.errors as f64 / (self.answered + self.errors).max(1) as f64
    }

    /// requests, req_per_s, the latency percentiles in ms, errors.
    pub fn summary(&mut self) -> serde_json::Value {
        self.latencies_ns.sort_unstable();
        let ms = |q: f64| percentile(&self.latencies_ns, q).map(|ns| round3(ns as f64 / 1e6));
        json!({
            "requests": self.answered + self.errors, "errors": self.errors,
            "seconds": round3(self.seconds),
            "req_per_s": (self.answered as f64 / self.seconds.max(1e-9)).round(),
            "p50_ms": ms(0.50), "p90_ms": ms(0.90), "p99_ms": ms(0.99),
            "p999_ms": ms(0.999), "max_ms": ms(1.0),
            "first_error": self.first_error,
        })
    }
}

/// The `q`-quantile of sorted values (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Requests `paths` one after another on one connection, each answer parsed.
pub async fn sequential(
    address: SocketAddr,
    targets: &Targets,
    keys: &[usize],
) -> anyhow::Result<Pass> {
    let mut connection = Connection::open(address).await?;
    let mut pass = Pass {
        latencies_ns: Vec::with_capacity(keys.len()),
        ..Pass::default()
    };
    let started = Instant::now();
    for &key in keys {
        let path = &targets.paths[key];
        let sent = Instant::now();
        let answer = connection.get(path).await;
        let took = sent.elapsed();
        match answer
            .map_err(|e| format!("{e:#}"))
            .and_then(|(status, body)| check(path, status, &body, targets.horizon, true))
        {
            Ok(()) => {
                pass.answered += 1;
                pass.latencies_ns.push(took.as_nanos() as u64);
            }
            Err(why) => {
                pass.failed(why);
                connection = Connection::open(address).await?;
            }
        }
    }
    pass.seconds = started.elapsed().as_secs_f64();
    Ok(pass)
}

/// `connections` connections in a closed loop for `duration`, keys drawn from
/// `mix`. Requests still in flight when `duration` ends are awaited and counted.
pub async fn closed_loop(
    address: SocketAddr,
    targets: Arc<Targets>,
    mix: Arc<KeyMix>,
    connections: usize,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Pass> {
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = JoinSet::new();
    for n in 0..connections {
        let (targets, mix) = (Arc::clone(&targets), Arc::clone(&mix));
        let rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9E37_79B9));
        tasks.spawn(drive(address, targets, mix, rng, end));
    }
    let mut pass = Pass::default();
    while let Some(done) = tasks.join_next().await {
        pass.absorb(done.context("a load connection panicked")??);
    }
    pass.seconds = started.elapsed().as_secs_f64();
    Ok(pass)
}

/// One connection of the closed loop.
async fn drive(
    address: SocketAddr,
    targets: Arc<Targets>,
    mix: Arc<KeyMix>,
    mut rng: Xoshiro256PlusPlus,
    end: Instant,
) -> anyhow::Result<Pass> {
    let mut connection = Connection::open(address).await?;
    let mut pass = Pass::default();
    let mut sent_count = 0u64;
    while Instant::now() < end {
        let path = &targets.paths[mix.draw(&mut rng)];
        sent_count += 1;
        let parse = sent_count.is_multiple_of(PARSE_EVERY);
        let sent = Instant::now();
        let answer = connection.get(path).await;
        let took = sent.elapsed();
        match answer
            .map_err(|e| format!("{e:#}"))
            .and_then(|(status, body)| check(path, status, &body, targets.horizon, parse))
        {
            Ok(()) => {
                pass.answered += 1;
                pass.latencies_ns.push(took.as_nanos() as u64);
            }
            Err(why) => {
                pass.failed(why);
                // The server may have closed the connection; a new one goes on.
                match Connection::open(address).await {
                    Ok(fresh) => connection = fresh,
                    Err(e) => {
                        pass.failed(format!("{e:#}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }
    }
    Ok(pass)
}

/// A 200 with a forecast; with `parse`, a forecast of this key over `horizon` days.
fn check(
    path: &str,
    status: StatusCode,
    body: &[u8],
    horizon: usize,
    parse: bool,
) -> Result<(), String> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if status != StatusCode::OK {
        return Err(format!("{path}: {status}: {}", text()));
    }
    if !parse {
        return if body.starts_with(b"{") && contains(body, b"\"forecast\":[{") {
            Ok(())
        } else {
            Err(format!("{path}: no forecast in {}", text()))
        };
    }
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("{path}: not JSON ({e}): {}", text()))?;
    let key = format!(
        "/{}/{}?",
        answer["store_id"].as_str().unwrap_or_default(),
        answer["item_id"].as_str().unwrap_or_default()
    );
    let days = answer["forecast"].as_array().map_or(0, Vec::len);
    if path.contains(&key) && days == horizon {
        Ok(())
    } else {
        Err(format!(
            "{path}: answered for {key} with {days} days: {}",
            text()
        ))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_ranks() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(50));
        assert_eq!(percentile(&sorted, 0.99), Some(99));
        assert_eq!(percentile(&sorted, 1.0), Some(100));
        assert_eq!(percentile(&sorted, 0.0), Some(1));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn zipf_mix_favours_a_few_keys_and_stays_in_range() {
        let mix = KeyMix::zipf(1000, 1.0, 7).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[mix.draw(&mut rng)] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        // Rank 1 of 1,000 under exponent 1: 1 / H(1000) ≈ 13.4% of draws.
        assert!((11_000..16_000).contains(&counts[0]), "{}", counts[0]);
        let uniform = KeyMix::uniform(1000).unwrap();
        assert!((0..10_000).all(|_| uniform.draw(&mut rng) < 1000));
    }

    #[test]
    fn answers_without_a_forecast_are_errors() {
        let path = "/v1/forecast/S0001/I00001?horizon=2";
        let good = br#"{"store_id":"S0001","item_id":"I00001","forecast":[{"step":1},{"step":2}]}"#;
        assert!(check(path, StatusCode::OK, good, 2, true).is_ok());
        assert!(check(path, StatusCode::OK, good, 2, false).is_ok());
        assert!(check(path, StatusCode::OK, good, 3, true).is_err());
        assert!(check(path, StatusCode::NOT_FOUND, good, 2, false).is_err());
        assert!(check(path, StatusCode::OK, b"{}", 2, false).is_err());
    }
}
