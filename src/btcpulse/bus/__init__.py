"""The bus between producers and consumers: one interface, an embedded log now, Kafka later."""

from btcpulse.bus.base import Consumer, Message, Producer, TopicPartition

__all__ = ["Consumer", "Message", "Producer", "TopicPartition"]
