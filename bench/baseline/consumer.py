#!/usr/bin/env python3
"""One of the seed's consumers, for the benchmark baseline.

A member of one consumer group: polls a message at a time, decodes the value
with confluent-kafka's AvroDeserializer (Schema Registry), applies the seed's
two transforms (category upper-cased; a 20% discount_price for CAT_5) and
appends one JSON line per record to DIR/consumer_N/consumer_log.json.
Offsets are auto-committed, as in the seed.
"""

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MICROSECOND = timedelta(microseconds=1)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--member", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--registry", required=True, help="Schema Registry URL")
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra librdkafka consumer property (repeatable)")
    return parser.parse_args()


def epoch_micros(stamp):
    """timestamp-micros as fastavro returns it (an aware datetime) -> int."""
    if isinstance(stamp, int):
        return stamp
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return (stamp - EPOCH) // ONE_MICROSECOND


def uppercase_category(record):
    record["category"] = record["category"].upper()
    return record


def cat5_discount(record):
    if record["category"] == "CAT_5":
        record["discount_price"] = round(record["price"] * 0.8, 2)
    else:
        record["discount_price"] = None
    return record


def main():
    args = parse_args()
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    registry = SchemaRegistryClient({"url": args.registry})
    value_deserializer = AvroDeserializer(registry)

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "true",
    }
    for setting in args.set:
        key, _, value = setting.partition("=")
        config[key] = value
    consumer = Consumer(config)
    consumer.subscribe([args.topic])

    directory = os.path.join(args.log_dir, f"consumer_{args.member}")
    os.makedirs(directory, exist_ok=True)
    log = open(os.path.join(directory, "consumer_log.json"), "a")
    print(f"consumer {args.member}: {args.topic} in group {args.group}", flush=True)

    written = 0
    try:
        while not stopping:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                print(f"consumer {args.member}: {msg.error()}", file=sys.stderr, flush=True)
                continue
            try:
                record = value_deserializer(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
            except Exception as error:  # a record that cannot be decoded is reported and skipped
                print(f"consumer {args.member}: cannot decode {msg.partition()}/{msg.offset()}: {error}",
                      file=sys.stderr, flush=True)
                continue
            if record is None:
                continue
            record = cat5_discount(uppercase_category(record))
            line = {
                "partition": msg.partition(),
                "offset": msg.offset(),
                "member": args.member,
                "plugins": "python-baseline",
                "logged_at_us": time.time_ns() // 1000,
                "record": {
                    "id": record["id"],
                    "name": record["name"],
                    "category": record["category"],
                    "price": record["price"],
                    "last_updated": epoch_micros(record["last_updated"]),
                    "discount_price": record["discount_price"],
                },
            }
            log.write(json.dumps(line) + "\n")
            log.flush()
            written += 1
    finally:
        log.close()
        consumer.close()  # commits the last offsets and leaves the group
        print(f"consumer {args.member}: wrote {written} records", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as error:
        print(f"kafka: {error}", file=sys.stderr)
        sys.exit(1)
