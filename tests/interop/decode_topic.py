"""Decodes a topic's records with Python's confluent-kafka AvroDeserializer.

Run by host/tests/source_any_table.rs as
    decode_topic.py BOOTSTRAP REGISTRY_URL TOPIC COUNT
Reads the first COUNT messages of TOPIC and prints one JSON object per
message: {"key": <message key as text>, "value": <decoded record>}, with
Avro logical types rendered by fastavro's Python types (Decimal, datetime,
date) as text and bytes as a list of numbers. Exits non-zero on any failure.
"""

import datetime
import decimal
import json
import sys
import time

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(value):
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (decimal.Decimal, datetime.datetime, datetime.date, datetime.time)):
        return str(value)
    return value


def main() -> None:
    bootstrap, registry, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"python_decode_{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    decoded = 0
    deadline = time.time() + 60
    while decoded < count and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            raise RuntimeError(message.error())
        context = SerializationContext(topic, MessageField.VALUE)
        value = deserializer(message.value(), context)
        record = {name: plain(field) for name, field in value.items()}
        print(json.dumps({"key": message.key().decode(), "value": record}))
        decoded += 1
    consumer.close()
    if decoded < count:
        raise RuntimeError(f"decoded {decoded} of {count} messages within 60 s")


if __name__ == "__main__":
    main()
