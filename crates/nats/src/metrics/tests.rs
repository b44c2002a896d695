//! Unit tests of the metrics: names, labels, buckets, mapper, registration.
use super::*;

fn scrape(registry: &Registry) -> String {
    prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap_or_default()
}

#[test]
fn series_appear_on_first_use_with_reference_names_and_labels() -> Result<()> {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry)?;
    let i = Instruments::new(Some(&metrics), "svc");
    let rec = i.consumer("svc", "Order.Created");
    rec.received(1);
    rec.received(2);
    rec.settled(Outcome::Handled, Duration::from_millis(150));
    rec.settled(Outcome::Undecodable, Duration::from_millis(1));
    let text = scrape(&registry);
    assert!(
        text.contains("nats_events_received{consumer=\"svc\",routing_key=\"Order.Created\"} 2\n")
    );
    assert!(
        text.contains(
            "nats_events_redelivered{consumer=\"svc\",routing_key=\"Order.Created\"} 1\n"
        )
    );
    assert!(text.contains("nats_events_processed_duration_bucket{consumer=\"svc\",result=\"ACK\",routing_key=\"Order.Created\",le=\"200\"} 1\n"));
    assert!(text.contains("nats_events_processed_duration_sum{consumer=\"svc\",result=\"ACK\",routing_key=\"Order.Created\"} 150\n"));
    assert!(
        text.contains(
            "nats_events_not_parsable{consumer=\"svc\",routing_key=\"Order.Created\"} 1\n"
        )
    );
    assert!(!text.contains("nats_events_nak{"));
    assert!(!text.contains("result=\"NAK\""));
    Ok(())
}

#[test]
fn mapper_bounds_cardinality_and_empty_becomes_unknown() -> Result<()> {
    let registry = Registry::new();
    let metrics = Metrics::builder()
        .routing_key_mapper(|k| {
            if k.starts_with("Customer.") {
                Cow::Borrowed("Customer.*")
            } else if k == "drop" {
                Cow::Borrowed("")
            } else {
                Cow::Borrowed(k)
            }
        })
        .register(&registry)?;
    let i = Instruments::new(Some(&metrics), "svc");
    for id in 0..5 {
        i.publish("events", &format!("Customer.{id}"))
            .succeeded(Duration::from_millis(3));
    }
    i.publish("events", "drop").failed(Duration::ZERO);
    let text = scrape(&registry);
    assert!(
        text.contains(
            "nats_events_publish_succeed{routing_key=\"Customer.*\",stream=\"events\"} 5\n"
        )
    );
    assert!(
        text.contains("nats_events_publish_failed{routing_key=\"unknown\",stream=\"events\"} 1\n")
    );
    assert!(text.contains("nats_events_publish_duration_bucket{result=\"OK\",routing_key=\"Customer.*\",stream=\"events\",le=\"5\"} 5\n"));
    Ok(())
}

#[test]
fn a_name_clash_fails_and_rolls_back_what_was_registered() -> Result<()> {
    let registry = Registry::new();
    // The same collector as ours (the registry keeps a name's dimensions forever).
    let clash = Collectors::new(None).map_err(metrics_error)?.term;
    registry
        .register(Box::new(clash.clone()))
        .map_err(metrics_error)?;
    assert!(matches!(
        Metrics::register(&registry),
        Err(Error::Metrics(_))
    ));
    registry
        .unregister(Box::new(clash))
        .map_err(metrics_error)?;
    // Succeeds only if the collectors registered before the clash were removed again.
    Metrics::register(&registry)?;
    assert!(matches!(
        Metrics::register(&registry),
        Err(Error::Metrics(_))
    ));
    Ok(())
}

#[test]
fn unregistered_metrics_can_be_registered_again() -> Result<()> {
    let registry = Registry::new();
    let first = Metrics::register(&registry)?;
    assert!(matches!(
        Metrics::register(&registry),
        Err(Error::Metrics(_))
    ));
    first.unregister(&registry);
    let second = Metrics::register(&registry)?;
    Instruments::new(Some(&second), "svc").connection_event("connected");
    assert!(scrape(&registry).contains("nats_connection_events"));
    Ok(())
}
