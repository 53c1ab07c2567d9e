#!/usr/bin/python3
"""Produce through a failover with confluent-kafka (librdkafka).

Produces COUNT keyed records ("key-%06d" / "value-%06d") to partition 0 of
TOPIC at RATE records a second with an idempotent acks=all producer, while
the Go test (TestFailover/LibrdkafkaProducesThroughLeaderKill) kills the
partition's leader; librdkafka finds the new leader on its own
(NOT_LEADER_OR_FOLLOWER or a broken connection -> metadata refresh) and
retries. Prints one JSON object: every delivery report ([key, partition,
offset]) and every delivery error; the Go test makes the assertions.
"""
import argparse
import json
import time

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--timeout", type=float, required=True)
    a = ap.parse_args()
    deadline = time.time() + a.timeout
    delivered, errors = [], []

    def on_delivery(err, msg):
        if err is not None:
            errors.append("%s: %s" % (msg.key(), err))
        else:
            delivered.append([msg.key().decode(), msg.partition(), msg.offset()])

    p = Producer({
        "bootstrap.servers": a.bootstrap,
        "broker.address.family": "v4",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": int(a.timeout * 1000),
    })
    start = time.time()
    for i in range(a.count):
        while time.time() < start + i / a.rate:
            p.poll(0.001)
        while True:
            try:
                p.produce(a.topic, key=b"key-%06d" % i, value=b"value-%06d" % i,
                          partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(max(1.0, deadline - time.time()))
    if left:
        errors.append("%d records still undelivered after flush" % left)
    print(json.dumps({"delivered": delivered, "errors": errors}))


if __name__ == "__main__":
    main()
