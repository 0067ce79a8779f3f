//! Arrival models: when each workflow of an experiment starts and ends.
//! Schedules are computed up front from a seed, so an experiment repeats
//! exactly.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How workflows arrive and how long they live.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalModel {
    /// Exponential interarrival times (mean `interarrival`) and lifetimes
    /// (mean `lifetime`).
    Poisson,
    /// One every `interarrival`, each living `lifetime`.
    Incremental,
    /// One every `interarrival` during the warm-up, all kept to the end.
    IncrAndKeep,
    /// One workflow for the whole experiment.
    Single,
    /// Arrivals and ends read from a trace.
    Trace(Vec<Lifespan>),
}

/// When one workflow starts and stops, from the start of the experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifespan {
    pub arrival: Duration,
    pub end: Duration,
}

/// The parameters of a schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub duration: Duration,
    pub warmup: Duration,
    pub interarrival: Duration,
    pub lifetime: Duration,
    pub seed: u64,
}

/// An exponentially distributed duration with the given mean.
fn exponential(rng: &mut StdRng, mean: Duration) -> Duration {
    let uniform: f64 = rng.random_range(f64::EPSILON..1.0);
    mean.mul_f64(-uniform.ln())
}

impl ArrivalModel {
    /// Parses a model name (`trace` is built with [`ArrivalModel::trace`]).
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "poisson" => Ok(Self::Poisson),
            "incremental" => Ok(Self::Incremental),
            "incr-and-keep" => Ok(Self::IncrAndKeep),
            "single" => Ok(Self::Single),
            other => Err(format!(
                "unknown arrival model {other:?}: poisson, incremental, incr-and-keep, single or trace"
            )),
        }
    }

    /// A trace: one `arrival,end` line per workflow, in seconds; arrivals
    /// must not decrease and every end must follow its arrival.
    pub fn trace(text: &str) -> Result<Self, String> {
        let mut spans = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("trace line {}: {why}: {line:?}", number + 1);
            let (arrival, end) = line
                .split_once(',')
                .ok_or_else(|| bad("expected `arrival,end`"))?;
            let seconds = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| bad("times are non-negative seconds"))
            };
            let span = Lifespan {
                arrival: seconds(arrival)?,
                end: seconds(end)?,
            };
            if span.end <= span.arrival {
                return Err(bad("the end must come after the arrival"));
            }
            if spans
                .last()
                .is_some_and(|last: &Lifespan| last.arrival > span.arrival)
            {
                return Err(bad("arrivals must not decrease"));
            }
            spans.push(span);
        }
        Ok(Self::Trace(spans))
    }

    /// The workflows of an experiment, by arrival. Arrivals at or after the
    /// end of the experiment are left out; every end is capped at it.
    pub fn schedule(&self, s: &Schedule) -> Vec<Lifespan> {
        let mut rng = StdRng::seed_from_u64(s.seed);
        let mut spans = Vec::new();
        let mut arrival = Duration::ZERO;
        let cap = |span: Lifespan| Lifespan {
            arrival: span.arrival,
            end: span.end.min(s.duration),
        };
        match self {
            Self::Poisson => loop {
                arrival += exponential(&mut rng, s.interarrival);
                if arrival >= s.duration {
                    break;
                }
                let end = arrival + exponential(&mut rng, s.lifetime);
                spans.push(cap(Lifespan { arrival, end }));
            },
            Self::Incremental | Self::IncrAndKeep => {
                let keep = *self == Self::IncrAndKeep;
                let limit = if keep {
                    s.warmup.min(s.duration)
                } else {
                    s.duration
                };
                if s.interarrival.is_zero() {
                    return spans;
                }
                while arrival < limit {
                    let end = if keep {
                        s.duration
                    } else {
                        arrival + s.lifetime
                    };
                    spans.push(cap(Lifespan { arrival, end }));
                    arrival += s.interarrival;
                }
            }
            Self::Single => spans.push(Lifespan {
                arrival: Duration::ZERO,
                end: s.duration,
            }),
            Self::Trace(trace) => spans.extend(
                trace
                    .iter()
                    .filter(|span| span.arrival < s.duration)
                    .map(|span| cap(*span)),
            ),
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn schedule(duration: f64, warmup: f64, interarrival: f64, lifetime: f64) -> Schedule {
        Schedule {
            duration: secs(duration),
            warmup: secs(warmup),
            interarrival: secs(interarrival),
            lifetime: secs(lifetime),
            seed: 42,
        }
    }

    #[test]
    fn incremental_starts_one_every_interarrival() {
        let spans = ArrivalModel::Incremental.schedule(&schedule(10.0, 0.0, 3.0, 5.0));
        assert_eq!(
            spans,
            vec![
                Lifespan {
                    arrival: secs(0.0),
                    end: secs(5.0)
                },
                Lifespan {
                    arrival: secs(3.0),
                    end: secs(8.0)
                },
                Lifespan {
                    arrival: secs(6.0),
                    end: secs(10.0)
                },
                Lifespan {
                    arrival: secs(9.0),
                    end: secs(10.0)
                },
            ]
        );
    }

    #[test]
    fn incr_and_keep_adds_during_the_warmup_and_keeps_all() {
        let spans = ArrivalModel::IncrAndKeep.schedule(&schedule(10.0, 4.0, 2.0, 1.0));
        let arrivals: Vec<f64> = spans.iter().map(|s| s.arrival.as_secs_f64()).collect();
        assert_eq!(arrivals, vec![0.0, 2.0]);
        assert!(spans.iter().all(|s| s.end == secs(10.0)));
    }

    #[test]
    fn single_lives_for_the_whole_experiment() {
        assert_eq!(
            ArrivalModel::Single.schedule(&schedule(7.0, 0.0, 1.0, 1.0)),
            vec![Lifespan {
                arrival: Duration::ZERO,
                end: secs(7.0)
            }]
        );
    }

    #[test]
    fn poisson_is_repeatable_and_has_the_right_means() {
        let s = schedule(20_000.0, 0.0, 2.0, 5.0);
        let spans = ArrivalModel::Poisson.schedule(&s);
        assert_eq!(
            spans,
            ArrivalModel::Poisson.schedule(&s),
            "same seed, same schedule"
        );
        let n = spans.len() as f64;
        // About duration / interarrival arrivals.
        assert!((n - 10_000.0).abs() < 400.0, "{n} arrivals");
        let mean_gap = spans.last().unwrap().arrival.as_secs_f64() / n;
        assert!((mean_gap - 2.0).abs() < 0.1, "mean interarrival {mean_gap}");
        let mean_life = spans
            .iter()
            .filter(|s| s.end < secs(19_000.0))
            .map(|s| (s.end - s.arrival).as_secs_f64())
            .sum::<f64>()
            / spans.iter().filter(|s| s.end < secs(19_000.0)).count() as f64;
        assert!((mean_life - 5.0).abs() < 0.25, "mean lifetime {mean_life}");
        let other = ArrivalModel::Poisson.schedule(&Schedule { seed: 43, ..s });
        assert_ne!(spans, other, "another seed, another schedule");
    }

    #[test]
    fn traces_are_read_and_checked() {
        let model = ArrivalModel::trace("# arrival,end\n0,2\n1.5, 9\n8,30\n12,13\n").unwrap();
        let spans = model.schedule(&schedule(10.0, 0.0, 1.0, 1.0));
        assert_eq!(
            spans,
            vec![
                Lifespan {
                    arrival: secs(0.0),
                    end: secs(2.0)
                },
                Lifespan {
                    arrival: secs(1.5),
                    end: secs(9.0)
                },
                Lifespan {
                    arrival: secs(8.0),
                    end: secs(10.0)
                },
            ]
        );
        for (bad, why) in [
            ("1", "expected"),
            ("2,1", "after the arrival"),
            ("-1,2", "non-negative"),
            ("3,4\n1,2", "must not decrease"),
        ] {
            let error = ArrivalModel::trace(bad).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }

    #[test]
    fn unknown_models_are_named() {
        assert!(
            ArrivalModel::from_name("bursty")
                .unwrap_err()
                .contains("bursty")
        );
    }
}
