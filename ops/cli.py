"""The `contract-pause` command: run the system, play the demo, and operate it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any

from aiokafka.errors import KafkaConnectionError

from ops import operate, outbox


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return arguments.handler(arguments)
    except LookupError as missing:  # a topic that does not exist
        print(f"contract-pause {arguments.command}: {missing}", file=sys.stderr)
        return 1
    except KafkaConnectionError:
        print(f"contract-pause {arguments.command}: no Kafka broker answers at {arguments.bootstrap}; "
              "start one with `contract-pause run` or pass --bootstrap", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contract-pause", description="Run and operate contract-pause.")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                        help="Kafka brokers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), the topics "
                              "and every service, until Ctrl-C")
    run.add_argument("--kafka-port", type=int, default=9092, metavar="PORT",
                     help="port of the local broker on 127.0.0.1 (default: 9092)")
    run.add_argument("--instances", type=_positive, default=1, metavar="N",
                     help="processes per service, in one consumer group, each on its own HTTP port "
                          "(default: 1); more than one puts the stores on PostgreSQL")
    run.add_argument("--postgres", nargs="?", const="local", metavar="URL",
                     help="the stores on PostgreSQL, one database per service: on the server URL names "
                          "(postgresql://user:password@host:port), else on a throwaway cluster started from the "
                          "local server binaries (the default with --instances above 1)")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="play the pause story against the running system, with a timeline")
    demo.set_defaults(handler=_demo)

    publish = commands.add_parser("publish", help="publish a billing event, a contract command, a time entry "
                                  "or a Get Support request")
    kinds = publish.add_subparsers(dest="what", required=True, metavar="WHAT")
    billing = kinds.add_parser("billing", help="a billing event on billing.events, e.g. payment_failed")
    billing.add_argument("type", choices=sorted(operate.BILLING_TYPES))
    command = kinds.add_parser("command", help="a contract command on contracts.commands, e.g. pause")
    command.add_argument("type", choices=sorted(operate.COMMAND_TYPES))
    kinds.add_parser("time-entry", help="a time entry on time.entries.submitted")
    support = kinds.add_parser("support", help="a Get Support press on support.requests: requested or "
                               "circumvention_reported (request_id / report_id made up unless given)")
    support.add_argument("type", choices=sorted(operate.SUPPORT_TYPES))
    for sub in (billing, command, kinds.choices["time-entry"], support):
        sub.add_argument("fields", nargs="+", metavar="FIELD=VALUE",
                         help="data fields, e.g. client_id=c-1 attempt=2 (JSON values are parsed)")
    publish.set_defaults(handler=_publish)

    status = commands.add_parser("status", help="a contract's status and holds, from contracts.events")
    status.add_argument("contract_id")
    status.set_defaults(handler=_status)

    tail = commands.add_parser("tail", help="follow topics in human-readable form")
    tail.add_argument("topics", nargs="*", help="topics (default: every main topic)")
    tail.add_argument("--client", help="only events about this client (and their contracts)")
    tail.add_argument("--contract", help="only events about this contract")
    tail.add_argument("--recipient", help="only notifications to this recipient")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    tail.add_argument("--no-follow", action="store_true", help="stop at the end instead of waiting for more")
    tail.set_defaults(handler=_tail)

    outbox.add_commands(commands)

    acls = commands.add_parser("acls", help="the broker ACLs each service needs, from the topic registry")
    acls.add_argument("--apply", action="store_true",
                      help="create them on the broker (log in with KAFKA_SASL_* as a user allowed to alter ACLs)")
    acls.add_argument("--input-writer", action="append", default=[], metavar="PRINCIPAL",
                      help="also let this user write the input topics (repeatable), e.g. an upstream adapter")
    acls.set_defaults(handler=_acls)

    token = commands.add_parser("token", help="print a development token for the services' HTTP APIs "
                                "(signed with AUTH_JWT_SECRET, else the key `contract-pause run` keeps)")
    token.add_argument("--as", dest="subject", required=True, metavar="ID",
                       help="who the token speaks for: a client, freelancer, support or operator id")
    token.add_argument("--role", required=True, choices=["freelancer", "client", "support", "operator"])
    token.add_argument("--ttl", default="8h", help="how long it lasts, e.g. 8h, 30m, 2d (default: 8h)")
    token.set_defaults(handler=_token)
    return parser


def _run(arguments: argparse.Namespace) -> int:
    from ops.run import run

    return run(kafka_port=arguments.kafka_port, instances=arguments.instances, postgres=arguments.postgres)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _demo(arguments: argparse.Namespace) -> int:
    from ops.demo import main as demo
    from ops.run import assigned_http_ports

    return demo(arguments.bootstrap, f"http://127.0.0.1:{assigned_http_ports()['notification']}")


def _publish(arguments: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from shared.events.decoding import describe

    fields = _fields(arguments.fields)
    try:
        if arguments.what == "billing":
            event = operate.billing_event(arguments.type, fields)
        elif arguments.what == "command":
            event = operate.contract_command(arguments.type, fields)
        elif arguments.what == "support":
            event = operate.support_event(arguments.type, fields)
        else:
            event = operate.time_entry(fields)
    except ValidationError as error:
        print(f"contract-pause publish: {describe(error)}", file=sys.stderr)
        return 2
    topic = operate.TOPIC_OF[arguments.what]
    asyncio.run(operate.publish(arguments.bootstrap, topic, event))
    print(f"published {event.type} {event.id} on {topic.name}")
    return 0


def _fields(pairs: list[str]) -> dict[str, Any]:
    fields = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"contract-pause publish: {pair!r} is not FIELD=VALUE")
        try:
            fields[name] = json.loads(value)
        except ValueError:
            fields[name] = value
    return fields


def _status(arguments: argparse.Namespace) -> int:
    snapshot = asyncio.run(operate.contract_status(arguments.bootstrap, arguments.contract_id))
    if snapshot is None:
        print(f"contract {arguments.contract_id}: no events on contracts.events", file=sys.stderr)
        return 1
    holds = ", ".join(snapshot["holds"]) or "none"
    print(f"contract {snapshot['contract_id']} ({snapshot['kind']}) client={snapshot['client_id']} "
          f"freelancer={snapshot['freelancer_id']}")
    print(f"  status:  {snapshot['status']}\n  holds:   {holds}\n  version: {snapshot['version']}, "
          f"changed {snapshot['changed_at']}")
    if snapshot.get("client_message"):
        print(f"  client's message: {snapshot['client_message']}")
    return 0


def _tail(arguments: argparse.Namespace) -> int:
    from ops.timeline import Filter

    topics = arguments.topics or operate.all_topic_names()
    where = Filter(client=arguments.client, contract=arguments.contract, recipient=arguments.recipient)
    try:
        asyncio.run(operate.tail(arguments.bootstrap, topics, where, from_beginning=arguments.from_beginning,
                                 follow=not arguments.no_follow))
    except KeyboardInterrupt:
        pass
    return 0


def _acls(arguments: argparse.Namespace) -> int:
    from ops.acls import AclRefused, acl_bindings, apply_acls
    from shared.settings import BaseServiceSettings, load_settings

    bindings = acl_bindings(arguments.input_writer)
    for binding in bindings:
        print(binding)
    if not arguments.apply:
        return 0
    # The services' KAFKA_* settings; this command serves no HTTP API.
    settings = load_settings(BaseServiceSettings, kafka_bootstrap_servers=arguments.bootstrap, http_api=False)
    try:
        created = asyncio.run(apply_acls(arguments.bootstrap, bindings, **settings.kafka_client_options()))
    except AclRefused as refused:
        print(f"contract-pause acls: the broker refused {refused}", file=sys.stderr)
        return 1
    except KafkaConnectionError:  # aiokafka says so for a refused login too
        print(f"contract-pause acls: could not connect and log in to Kafka at {arguments.bootstrap}; check "
              "KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_CAFILE", file=sys.stderr)
        return 1
    print(f"applied {created} ACLs at {arguments.bootstrap}", file=sys.stderr)
    return 0


def _token(arguments: argparse.Namespace) -> int:
    from ops import dev_tokens

    try:
        print(dev_tokens.token(arguments.subject, arguments.role, dev_tokens.parse_ttl(arguments.ttl)))
    except ValueError as error:
        print(f"contract-pause token: {error}", file=sys.stderr)
        return 2
    except dev_tokens.NoSecret as missing:
        print(f"contract-pause token: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
