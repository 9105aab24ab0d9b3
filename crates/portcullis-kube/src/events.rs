//! Reporting broken resources: a log line and a Kubernetes Event on the resource, once per
//! problem. The configuration is rebuilt on every change in the cluster; a problem that was
//! already reported is not reported again until it has gone away and come back.

use std::collections::HashSet;
use std::sync::Mutex;

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::translate::{Problem, Reason};

/// The controller name Events are published under.
pub const CONTROLLER: &str = "portcullis";

pub struct ProblemReporter {
    recorder: Option<Recorder>,
    reported: Mutex<HashSet<(String, Reason, String)>>,
}

impl ProblemReporter {
    /// Reports to the log, and as Events through `client` when given.
    pub fn new(client: Option<Client>) -> Self {
        let recorder = client.map(|client| {
            Recorder::new(
                client,
                Reporter {
                    controller: CONTROLLER.into(),
                    instance: std::env::var("POD_NAME").ok(),
                },
            )
        });
        Self {
            recorder,
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// Reports the problems of one translation that were not already reported.
    pub fn report(&self, problems: &[Problem]) {
        let current: HashSet<(String, Reason, String)> = problems
            .iter()
            .map(|p| (p.subject(), p.reason, p.message.clone()))
            .collect();
        let fresh: Vec<&Problem> = {
            let Ok(mut reported) = self.reported.lock() else {
                return;
            };
            let fresh = problems
                .iter()
                .filter(|p| !reported.contains(&(p.subject(), p.reason, p.message.clone())))
                .collect();
            *reported = current;
            fresh
        };
        for problem in fresh {
            tracing::warn!(
                resource = %problem.subject(),
                reason = problem.reason.as_str(),
                "{}",
                problem.message
            );
            let Some(recorder) = &self.recorder else {
                continue;
            };
            let recorder = recorder.clone();
            let event = Event {
                type_: EventType::Warning,
                reason: problem.reason.as_str().into(),
                // The API refuses notes over 1 kB.
                note: Some(truncate(&problem.message, 1000)),
                action: "Configure".into(),
                secondary: None,
            };
            let object = problem.object.clone();
            let subject = problem.subject();
            tokio::spawn(async move {
                if let Err(error) = recorder.publish(&event, &object).await {
                    tracing::debug!(resource = %subject, %error, "cannot publish a Kubernetes Event");
                }
            });
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}
