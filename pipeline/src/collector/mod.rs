//! HTTP collectors: they turn what peers push into records on input topics and answer 2xx
//! only once Kafka acknowledged every record of the request.

pub mod alertmanager;
pub mod ingest;
pub mod kubernetes;
pub mod loki;
pub mod remote_write;
