//! Where a new consumer starts, and how fast it replays: the two choices a JetStream
//! consumer fixes when it is created.

use time::OffsetDateTime;

/// The years a [`StartAt::Time`] may fall in: before 1970 is surely a mistake (a zero
/// timestamp), and JetStream's RFC 3339 times end at year 9999.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Where a newly created consumer starts reading its stream.
///
/// The default, [`StartAt::All`], is the reference's behaviour: a new consumer (durable or
/// transient) receives every message the stream still holds. [`StartAt::New`] suits
/// transient consumers such as live views, which only want what is published from now on.
///
/// It matters only when the server creates the consumer. An existing durable keeps its
/// position, and the server refuses to change where it starts: `start()` then fails with
/// an error naming the durable and both values. So a durable given a
/// [`Time`](StartAt::Time) should be given the same time on every start (a fixed
/// instant, not "an hour ago").
///
/// AMQP honours only `All` (a queue delivers what arrives after it is bound); the
/// in-memory transport honours `All`, `New` and `Last`. The others are refused at start.
///
/// ```
/// use messaging_core::{ConsumerOptions, StartAt};
/// let replay_from = ConsumerOptions::new().start_at(StartAt::Sequence(1_000));
/// assert_eq!(replay_from.get_start_at(), Some(StartAt::Sequence(1_000)));
/// let yesterday = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
/// let since = ConsumerOptions::new().start_at(StartAt::Time(yesterday.into()));
/// assert_eq!(since.check(), Ok(()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartAt {
    /// Every message the stream holds (JetStream's `deliver_policy: all`).
    #[default]
    All,
    /// Only messages published after the consumer is created (`new`).
    New,
    /// The last message the consumer's filters match, then everything after it (`last`).
    Last,
    /// The last message of every subject the consumer's filters match, then everything
    /// after (`last_per_subject`): the current state of each key.
    LastPerSubject,
    /// From this stream sequence on (`by_start_sequence`); the first message is 1. Must
    /// be at least 1.
    Sequence(u64),
    /// From the first message stored at or after this time (`by_start_time`). The year
    /// must be between 1970 and 9999. A `std::time::SystemTime` converts with `.into()`.
    Time(OffsetDateTime),
}

impl StartAt {
    /// Checks the values that cannot work on any broker.
    pub(crate) fn check(self) -> Result<(), String> {
        match self {
            Self::Sequence(0) => {
                Err("start_at Sequence(0) is invalid: stream sequences start at 1".to_owned())
            }
            Self::Time(t) if !YEARS.contains(&t.year()) => Err(format!(
                "start_at Time({t}) is invalid: the year must be between {} and {}",
                YEARS.start(),
                YEARS.end()
            )),
            _ => Ok(()),
        }
    }

    /// True for the positions every transport with start positions has: `All`, `New`
    /// and `Last`.
    pub(crate) fn is_basic(self) -> bool {
        matches!(self, Self::All | Self::New | Self::Last)
    }
}

/// How fast a consumer delivers messages already in the stream.
///
/// ```
/// use messaging_core::{ConsumerOptions, Replay};
/// let paced = ConsumerOptions::new().replay(Replay::Original);
/// assert_eq!(paced.get_replay(), Some(Replay::Original));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Replay {
    /// As fast as the consumer takes them (JetStream's `replay_policy: instant`).
    #[default]
    Instant,
    /// At the pace they were originally published (`original`): the gaps between stored
    /// messages are kept, for replaying recorded traffic. NATS only.
    Original,
}
