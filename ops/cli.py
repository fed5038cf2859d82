"""The `contract-pause` command."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contract-pause", description="Run and operate contract-pause.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_parser = commands.add_parser(
        "run",
        help="start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), create the topics, run every service",
        description="Start a local Kafka broker (unless KAFKA_BOOTSTRAP_SERVERS is set), create the topics, "
        "and run every service with interleaved output until Ctrl-C.",
    )
    run_parser.add_argument(
        "--kafka-port", type=int, default=9092, metavar="PORT",
        help="port of the local broker on 127.0.0.1 (default: 9092)",
    )

    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if arguments.command == "run":
        from ops.run import run

        return run(kafka_port=arguments.kafka_port)
    parser.error(f"unknown command {arguments.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
