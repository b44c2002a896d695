//! Setup intents to transport-neutral registrations ([`Setup`]s) and the TCK's publisher
//! keys. The few differences between the transports follow the Go reference adapters.

use messaging_core::Setup;
use messaging_spec::{EndpointDirection, Pattern, PublisherKey, SetupIntent, Transport};

use crate::capture::{Acknowledge, Capture, ReceivedLog};
use crate::error::{Error, Result};

/// Which publisher answers a publisher key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// The `events` stream publisher.
    Events,
    /// A custom stream publisher, by the intent's exchange name.
    Stream(String),
    /// Requests to a service.
    Service(String),
    /// AMQP: sender-selected distribution to a queue.
    Queue(String),
    /// AMQP: a response through the service's response exchange, to the caller named by
    /// the `_tckTargetService` header (or the key's tail).
    Response(String),
    /// Accept and drop: on NATS a response travels on the request's reply inbox, so
    /// publishing one separately has nowhere to go.
    Discard,
}

/// A service's intents, mapped.
#[derive(Debug, Default)]
pub(crate) struct Mapped {
    /// Registrations, in intent order.
    pub(crate) setups: Vec<Setup>,
    /// One entry per publish intent, in intent order.
    pub(crate) publishers: Vec<(PublisherKey, Route)>,
}

/// Maps every intent for `transport`; consumers record into `log`.
///
/// # Errors
/// [`Error::UnsupportedIntent`] for queue-publish on NATS and unknown pattern/direction
/// pairs.
pub(crate) fn map_intents(
    intents: &[SetupIntent],
    log: &ReceivedLog,
    transport: &Transport,
) -> Result<Mapped> {
    let mut mapped = Mapped::default();
    for intent in intents {
        match intent.direction {
            EndpointDirection::Publish => {
                let route = publish_route(intent, transport)?;
                if let Some(setup) = publisher_setup(&route) {
                    mapped.setups.push(setup);
                }
                mapped.publishers.push((intent.publisher_key(), route));
            }
            EndpointDirection::Consume => {
                mapped.setups.push(consumer_setup(intent, log, transport)?);
            }
            _ => return Err(unsupported(intent, transport)),
        }
    }
    Ok(mapped)
}

fn unsupported(intent: &SetupIntent, transport: &Transport) -> Error {
    let what = match intent.pattern {
        Pattern::QueuePublish => Pattern::QueuePublish.to_string(),
        _ => format!("pattern={} direction={}", intent.pattern, intent.direction),
    };
    let transport = match transport {
        Transport::Amqp => "AMQP",
        _ => "NATS",
    };
    Error::UnsupportedIntent { transport, what }
}

fn publish_route(intent: &SetupIntent, transport: &Transport) -> Result<Route> {
    let amqp = *transport == Transport::Amqp;
    Ok(match intent.pattern {
        Pattern::EventStream => Route::Events,
        Pattern::CustomStream => Route::Stream(intent.exchange.clone()),
        Pattern::ServiceRequest => Route::Service(intent.target_service.clone()),
        Pattern::ServiceResponse if amqp => Route::Response(intent.target_service.clone()),
        Pattern::ServiceResponse => Route::Discard,
        Pattern::QueuePublish if amqp => Route::Queue(intent.destination_queue.clone()),
        _ => return Err(unsupported(intent, transport)),
    })
}

fn publisher_setup(route: &Route) -> Option<Setup> {
    match route {
        Route::Events => Some(Setup::event_publisher()),
        Route::Stream(stream) => Some(Setup::stream_publisher(stream.as_str())),
        Route::Service(target) => Some(Setup::service_publisher(target.as_str())),
        Route::Queue(queue) => Some(Setup::queue_publisher(queue.as_str())),
        Route::Response(_) | Route::Discard => None,
    }
}

fn consumer_setup(intent: &SetupIntent, log: &ReceivedLog, transport: &Transport) -> Result<Setup> {
    let capture = Capture(log.clone());
    let rk = intent.routing_key.as_str();
    let stream = intent.exchange.as_str();
    let setup = match (&intent.pattern, intent.ephemeral) {
        (Pattern::EventStream, true) => Setup::transient_event_consumer(rk, capture),
        (Pattern::EventStream, false) => Setup::event_consumer(rk, capture),
        (Pattern::CustomStream, true) => Setup::transient_stream_consumer(stream, rk, capture),
        (Pattern::CustomStream, false) => Setup::stream_consumer(stream, rk, capture),
        (Pattern::ServiceRequest, _) => Setup::request_handler(rk, Acknowledge(log.clone())),
        (Pattern::ServiceResponse, _) => {
            Setup::service_response_consumer(intent.target_service.as_str(), rk, capture)
        }
        _ => return Err(unsupported(intent, transport)),
    };
    // Transient consumers have no durable name to suffix; the Go AMQP adapter ignores
    // the suffix of custom streams.
    let suffixed = match transport {
        Transport::Amqp => intent.pattern == Pattern::EventStream,
        _ => matches!(intent.pattern, Pattern::EventStream | Pattern::CustomStream),
    };
    let durable_stream = suffixed && !intent.ephemeral;
    Ok(if durable_stream && !intent.queue_suffix.is_empty() {
        setup.suffix(intent.queue_suffix.as_str())
    } else {
        setup
    })
}

#[cfg(test)]
#[path = "../../spec/tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    use messaging_nats::Connection;
    use serde_json::{Value, json};

    use super::*;

    fn intent(v: Value) -> SetupIntent {
        serde_json::from_value(v).unwrap()
    }

    fn map(intents: &[SetupIntent]) -> Result<Mapped> {
        map_intents(intents, &ReceivedLog::default(), &Transport::Nats)
    }

    /// The endpoints a service would register, as JSON without the informational
    /// `messageType`, sorted for comparison.
    fn endpoints(service: &str, mapped: Mapped) -> Vec<Value> {
        let topology = Connection::builder(service)
            .setups(mapped.setups)
            .topology()
            .unwrap();
        assert_eq!(topology.service_name, service);
        let mut out: Vec<Value> = topology
            .endpoints
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap();
                v.as_object_mut().unwrap().remove("messageType");
                v
            })
            .collect();
        out.sort_by_key(ToString::to_string);
        out
    }

    #[test]
    fn publish_intents_give_one_spec_key_each() {
        let intents = [
            intent(json!({"pattern":"event-stream","direction":"publish"})),
            intent(json!({"pattern":"custom-stream","direction":"publish","exchange":"audit"})),
            intent(
                json!({"pattern":"service-request","direction":"publish","targetService":"email-svc-1a2b3c4d"}),
            ),
            intent(json!({"pattern":"service-response","direction":"publish"})),
            intent(
                json!({"pattern":"event-stream","direction":"consume","routingKey":"Order.Created"}),
            ),
        ];
        let mapped = map(&intents).unwrap();
        let keys: Vec<String> = mapped
            .publishers
            .iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "event-stream",
                "custom-stream:audit",
                "service-request:email-svc-1a2b3c4d",
                "service-response:",
            ]
        );
        let routes: Vec<&Route> = mapped.publishers.iter().map(|(_, r)| r).collect();
        assert_eq!(
            routes,
            [
                &Route::Events,
                &Route::Stream("audit".into()),
                &Route::Service("email-svc-1a2b3c4d".into()),
                &Route::Discard,
            ]
        );
        // The service-response publisher registers nothing.
        assert_eq!(mapped.setups.len(), 4);
    }

    #[test]
    fn amqp_maps_queue_publish_responses_and_ignores_custom_stream_suffixes() {
        let intents = [
            intent(
                json!({"pattern":"queue-publish","direction":"publish","destinationQueue":"task-queue"}),
            ),
            intent(json!({"pattern":"service-response","direction":"publish"})),
            intent(
                json!({"pattern":"custom-stream","direction":"consume","exchange":"audit","routingKey":"A.b","queueSuffix":"x"}),
            ),
            intent(
                json!({"pattern":"event-stream","direction":"consume","routingKey":"A.b","queueSuffix":"x"}),
            ),
        ];
        let mapped = map_intents(&intents, &ReceivedLog::default(), &Transport::Amqp).unwrap();
        let routes: Vec<&Route> = mapped.publishers.iter().map(|(_, r)| r).collect();
        assert_eq!(
            routes,
            [
                &Route::Queue("task-queue".into()),
                &Route::Response(String::new())
            ]
        );
        let suffixes: Vec<Option<&str>> = mapped
            .setups
            .iter()
            .filter(|s| s.is_consumer())
            .map(|s| s.consumer_options().get_suffix())
            .collect();
        assert_eq!(suffixes, [None, Some("x")]);
        let err =
            map_intents(&intents[..1], &ReceivedLog::default(), &Transport::Nats).unwrap_err();
        assert_eq!(err.to_string(), "unsupported intent on NATS: queue-publish");
    }

    #[test]
    fn queue_publish_is_unsupported_with_the_fixed_text() {
        let err = map(&[intent(
            json!({"pattern":"queue-publish","direction":"publish","destinationQueue":"task-queue"}),
        )])
        .unwrap_err();
        assert!(matches!(err, Error::UnsupportedIntent { .. }));
        assert_eq!(err.to_string(), "unsupported intent on NATS: queue-publish");
    }

    #[test]
    fn unknown_patterns_and_directions_are_unsupported() {
        for v in [
            json!({"pattern":"carrier-pigeon","direction":"publish"}),
            json!({"pattern":"carrier-pigeon","direction":"consume","routingKey":"a"}),
            json!({"pattern":"event-stream","direction":"sideways"}),
            json!({"pattern":"queue-publish","direction":"consume"}),
        ] {
            let err = map(&[intent(v.clone())]).unwrap_err();
            assert!(matches!(err, Error::UnsupportedIntent { .. }), "{v}");
        }
    }

    #[test]
    fn queue_suffix_names_the_durable_and_ephemerals_ignore_it() {
        let mapped = map(&[
            intent(json!({"pattern":"event-stream","direction":"consume","routingKey":"Order.Created","queueSuffix":"reminders"})),
            intent(json!({"pattern":"custom-stream","direction":"consume","exchange":"audit","routingKey":"Audit.Entry","queueSuffix":"x"})),
            intent(json!({"pattern":"event-stream","direction":"consume","routingKey":"Order.Updated","ephemeral":true,"queueSuffix":"ignored"})),
        ])
        .unwrap();
        let got = endpoints("backend-1a2b3c4d", mapped);
        let mut want = vec![
            json!({"direction":"consume","pattern":"event-stream","exchangeName":"events","exchangeKind":"topic","queueName":"backend-1a2b3c4d-reminders","routingKey":"Order.Created"}),
            json!({"direction":"consume","pattern":"custom-stream","exchangeName":"audit","exchangeKind":"topic","queueName":"backend-1a2b3c4d-x","routingKey":"Audit.Entry"}),
            json!({"direction":"consume","pattern":"event-stream","exchangeName":"events","exchangeKind":"topic","routingKey":"Order.Updated","ephemeral":true}),
        ];
        want.sort_by_key(ToString::to_string);
        assert_eq!(got, want);
    }

    /// Every `topology.json` scenario: the mapped setups register exactly the NATS
    /// endpoints the fixture expects (queue-publish is the one NATS cannot map).
    #[test]
    fn topology_fixture_nats_endpoints() {
        let Some(fixture) = common::load("topology.json") else {
            return;
        };
        let scenarios = fixture["scenarios"].as_array().unwrap();
        assert!(!scenarios.is_empty());
        for s in scenarios {
            let name = s["name"].as_str().unwrap();
            let service = s["serviceName"].as_str().unwrap();
            let intents: Vec<SetupIntent> = serde_json::from_value(s["setups"].clone()).unwrap();
            let mapped = map(&intents);
            if intents.iter().any(|i| i.pattern == Pattern::QueuePublish) {
                assert!(
                    matches!(mapped, Err(Error::UnsupportedIntent { .. })),
                    "{name}"
                );
                continue;
            }
            let mut want: Vec<Value> = s["expectedEndpoints"]["nats"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no nats expectation"))
                .clone();
            want.sort_by_key(ToString::to_string);
            assert_eq!(endpoints(service, mapped.unwrap()), want, "{name}");
        }
        common::report("topology.json", scenarios.len());
    }

    /// Every service of every NATS scenario in `tck.json` maps, with one key per publish
    /// intent.
    #[test]
    fn tck_fixture_services_map_on_nats() {
        let Some(fixture) = common::load("tck.json") else {
            return;
        };
        let mut cases = 0;
        for s in fixture["scenarios"].as_array().unwrap() {
            let on_nats = s["transports"]
                .as_array()
                .is_none_or(|t| t.iter().any(|t| t == "nats"));
            for (template, svc) in s["services"].as_object().unwrap() {
                let intents: Vec<SetupIntent> =
                    serde_json::from_value(svc["setups"].clone()).unwrap();
                let mapped = map(&intents);
                if !on_nats {
                    continue;
                }
                let mapped = mapped.unwrap_or_else(|e| panic!("{template}: {e}"));
                let publish = intents
                    .iter()
                    .filter(|i| i.direction == EndpointDirection::Publish)
                    .count();
                assert_eq!(mapped.publishers.len(), publish, "{template}");
                endpoints(&format!("{template}-1a2b3c4d"), mapped);
                cases += 1;
            }
        }
        assert!(cases > 0);
        common::report("tck.json", cases);
    }
}
