//! Replication faults on a three-broker Apache Kafka cluster of the tests'
//! own (filled in with the cluster helper).
