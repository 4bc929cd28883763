"""sfidl: an interface language and compiler for Apache Flink Stateful Functions."""

__version__ = "0.1.0"
