/// Errors of the KubeSage runtime, classified so callers know whose fault it is and whether
/// retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("delivery to kafka failed: {0}")]
    Delivery(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("executor backend: {0}")]
    Backend(String),
    #[error("internal: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The operator of KubeSage must fix something (config, input).
    User,
    /// A peer (Kafka, Kubernetes) failed; usually transient.
    External,
    /// A bug in KubeSage.
    Internal,
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) => ErrorClass::User,
            Error::Kafka(_) | Error::Delivery(_) | Error::Timeout(_) | Error::Io(_) | Error::Backend(_) => ErrorClass::External,
            Error::Checkpoint(_) | Error::Internal(_) => ErrorClass::Internal,
        }
    }

    pub fn retryable(&self) -> bool {
        self.class() == ErrorClass::External
    }
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::User => "user",
            ErrorClass::External => "external",
            ErrorClass::Internal => "internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
