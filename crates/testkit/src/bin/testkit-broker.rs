//! `testkit-broker nats|rabbitmq ENV_FILE`: starts a private broker with the testkit,
//! writes its addresses to `ENV_FILE` as shell assignments (`NATS_URL=…`, or
//! `RABBITMQ_URL=…` and `RABBITMQ_MANAGEMENT_URL=…`), then serves until its stdin closes,
//! and stops the broker (and epmd) on the way out. Scripts (`tck/run.sh`) use it so they
//! start brokers exactly as the tests do.

use std::io::Read;
use std::process::ExitCode;

use messaging_testkit::{NatsServer, RabbitServer};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(kind), Some(env_file)) = (args.next(), args.next()) else {
        eprintln!("usage: testkit-broker nats|rabbitmq ENV_FILE");
        return ExitCode::from(2);
    };
    match serve(&kind, &env_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testkit-broker: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(kind: &str, env_file: &str) -> Result<(), Box<dyn std::error::Error>> {
    // Held until the end of this function: dropping stops the broker.
    let (guard, env): (Box<dyn std::any::Any>, String) = match kind {
        "nats" => {
            let s = NatsServer::start()?;
            let env = format!("NATS_URL={}\n", s.client_url());
            (Box::new(s), env)
        }
        "rabbitmq" => {
            let s: RabbitServer = RabbitServer::start()?;
            let env = format!(
                "RABBITMQ_URL={}\nRABBITMQ_MANAGEMENT_URL={}\n",
                s.amqp_url(),
                s.management_url()
            );
            (Box::new(s), env)
        }
        other => return Err(format!("unknown broker {other:?}: use nats or rabbitmq").into()),
    };
    // Written whole under a temporary name, so a reader never sees half a file.
    let tmp = format!("{env_file}.tmp");
    std::fs::write(&tmp, env)?;
    std::fs::rename(&tmp, env_file)?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(guard);
    Ok(())
}
