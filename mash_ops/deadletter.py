"""Dead-letter tooling: `mash-deadletter list | inspect P:O | replay P:O`.

list     what is on the dead-letter topic: position, stage, reason, error, origin, time
inspect  one dead letter, its original bytes decoded where possible with personal data hidden;
         --show-personal-data (with --operator) shows it and records that disclosure as an
         audit event first
replay   after a fix, re-produces the original key and value to the original topic and
         partition, records DEADLETTER_REPLAYED, and notes the replay in a compacted replay
         log (<prefix>mash.deadletter.replayed, keyed by dead-letter topic:partition:offset)
         so the same dead letter is replayed once; --force replays again
The replayed message, the replay-log entry and the audit event are written in one Kafka
transaction: either all three are there or none is.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from mash_common.access import replay_transactional_id
from mash_common.audittrail import AuditKeys
from mash_common.cli import add_kafka_options, kafka_from_args
from mash_common.contracts import AuditAction, AuditEvent, DeadLetter
from mash_common.errors import MashError, SerdeError
from mash_common.ids import stable_id
from mash_common.logs import configure_logging
from mash_common.serde import HEADER_LENGTH, AvroSerde
from mash_common.settings import KafkaSettings
from mash_ops.errors import AlreadyReplayedError, BrokerUnavailableError, NotFoundError, OpsError
from mash_ops.reading import read_one, read_topics
from mash_ops.redact import redact

logger = logging.getLogger(__name__)

ACTOR_PREFIX = "operator:"
# Marks a replayed message, so a stage that remembers rejected content (intake ignores an
# identical resend of a rejected referral) can tell an operator's replay after a fix from a
# sender's blind resend. Value: the dead letter's reference.
REPLAY_HEADER = "mash-replay-of"


def replay_log_topic(kafka: KafkaSettings) -> str:
    return kafka.topics.replay_log


def reference(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def parse_position(text: str) -> tuple[int, int]:
    """'2:17' -> (partition 2, offset 17)."""
    try:
        partition, offset = text.split(":")
        return int(partition), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PARTITION:OFFSET, got {text!r}") from None


@dataclass(frozen=True)
class Entry:
    partition: int
    offset: int
    letter: DeadLetter | None  # None: the dead letter itself cannot be read
    replays: int = 0


class DeadLetterTool:
    """The library behind the command; every method reads Kafka afresh."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        serde: AvroSerde | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        audit_keys: AuditKeys | None = None,
    ) -> None:
        self.kafka = kafka
        self.audit_keys = audit_keys
        self.serde = serde or AvroSerde()
        self.now = now
        self.topic = kafka.topics.deadletter

    # -- reading ----------------------------------------------------------------------

    def replay_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in read_topics(self.kafka, [replay_log_topic(self.kafka)]):
            if r.key is not None and r.value is not None:
                ref = r.key.decode()
                counts[ref] = counts.get(ref, 0) + 1
        return counts

    def entries(self, reason: str | None = None) -> list[Entry]:
        replays = self.replay_counts()
        out = []
        for r in read_topics(self.kafka, [self.topic]):
            letter: DeadLetter | None
            try:
                letter = self.serde.decode(r.value or b"", DeadLetter)
            except SerdeError:
                letter = None
            if reason and (letter is None or letter.reason_code != reason):
                continue
            out.append(Entry(r.partition, r.offset, letter,
                             replays.get(reference(self.topic, r.partition, r.offset), 0)))
        return out

    def get(self, partition: int, offset: int) -> DeadLetter:
        record = read_one(self.kafka, self.topic, partition, offset)
        if record is None or record.value is None:
            raise NotFoundError(f"no dead letter at {self.topic}[{partition}]@{offset}")
        try:
            return self.serde.decode(record.value, DeadLetter)
        except SerdeError as exc:
            raise OpsError(f"{self.topic}[{partition}]@{offset} is not a DeadLetter: {exc}") from None

    def describe_original(self, letter: DeadLetter, show_personal_data: bool = False) -> dict[str, Any]:
        """The original message: decoded and redacted where it is Avro we know; otherwise its
        size and header only (the raw bytes may be personal data in some other encoding)."""
        value = letter.value
        out: dict[str, Any] = {"bytes": 0 if value is None else len(value)}
        if value is None:
            return out
        try:
            name, body = self.serde.decode_dict(value)
        except SerdeError as exc:
            out["decodable"] = False
            out["why"] = exc.reason_code
            out["header_hex"] = value[:HEADER_LENGTH].hex()
            if show_personal_data:
                try:
                    out["text"] = value.decode("utf-8")
                except UnicodeDecodeError:
                    out["hex"] = value.hex()
            return out
        out["decodable"] = True
        out["record"] = name
        out["body"] = _jsonable(body) if show_personal_data else redact(_jsonable(body))
        return out

    def inspect(
        self, partition: int, offset: int, *, show_personal_data: bool = False,
        operator: str | None = None,
    ) -> dict[str, Any]:
        letter = self.get(partition, offset)
        ref = reference(self.topic, partition, offset)
        if show_personal_data:
            if not operator:
                raise OpsError("showing personal data needs --operator: the disclosure is audited")
            at = self.now()
            event = AuditEvent(
                event_id=stable_id("audit", "ops", AuditAction.DISCLOSURE.value, ref, operator,
                                   at.isoformat()),
                at=at, actor=f"{ACTOR_PREFIX}{operator}", action=AuditAction.DISCLOSURE,
                reference=ref,
                detail="dead letter inspected with personal data shown (mash_ops.deadletter)",
            )
            if self.audit_keys is not None:
                event = self.audit_keys.sign(event)
            # Audit before showing: no record, no disclosure.
            self._produce_plain(self.kafka.topics.audit, ref, self.serde.encode(event))
        return {
            "position": f"{partition}:{offset}",
            "reference": ref,
            "stage": letter.stage,
            "reason_code": letter.reason_code,
            "error": letter.error,
            "at": letter.at.isoformat(),
            "original": {"topic": letter.topic, "partition": letter.partition,
                         "offset": letter.offset,
                         "key": None if letter.key is None else letter.key.decode(errors="replace")},
            "value": self.describe_original(letter, show_personal_data),
            "personal_data_shown": show_personal_data,
        }

    # -- replay -----------------------------------------------------------------------

    def replay(self, partition: int, offset: int, *, operator: str, force: bool = False) -> AuditEvent:
        """Replay one dead letter once; AlreadyReplayedError if it was, unless force."""
        if not operator:
            raise OpsError("a replay needs --operator: it is audited in their name")
        letter = self.get(partition, offset)
        self.ensure_replay_log()
        ref = reference(self.topic, partition, offset)
        previous = self.replay_counts().get(ref, 0)
        if previous and not force:
            raise AlreadyReplayedError(
                f"{ref} was replayed {previous} time(s) already; --force to replay again")
        at = self.now()
        event = AuditEvent(
            event_id=stable_id("audit", "ops", AuditAction.DEADLETTER_REPLAYED.value, ref,
                               previous + 1),
            at=at, actor=f"{ACTOR_PREFIX}{operator}", action=AuditAction.DEADLETTER_REPLAYED,
            reference=ref,
            detail=(f"replayed to {letter.topic}[{letter.partition}] (was offset {letter.offset}, "
                    f"stage {letter.stage}, reason {letter.reason_code})"
                    + (", forced" if previous else "")),
        )
        if self.audit_keys is not None:
            event = self.audit_keys.sign(event)
        encoded = self.serde.encode(event)
        producer = Producer(self.kafka.producer_config(**{
            "transactional.id": replay_transactional_id(self.kafka.topic_prefix),
            "enable.idempotence": True,
        }))
        try:
            producer.init_transactions(30)
            producer.begin_transaction()
            # The original partition, not the partitioner's choice: librdkafka hashes keys
            # differently from the Java and aiokafka clients that wrote the original.
            producer.produce(letter.topic, key=letter.key, value=letter.value,
                             partition=letter.partition,
                             headers=[(REPLAY_HEADER, ref.encode())])
            producer.produce(replay_log_topic(self.kafka), key=ref.encode(), value=encoded)
            producer.produce(self.kafka.topics.audit, key=ref.encode(), value=encoded)
            producer.commit_transaction(30)
        except KafkaException as exc:
            try:
                producer.abort_transaction(10)
            except KafkaException:
                logger.warning("could not abort the replay transaction of %s", ref)
            raise BrokerUnavailableError(f"replay of {ref} failed: {exc.args[0]}") from None
        logger.info("replayed %s to %s[%d] by %s", ref, letter.topic, letter.partition, operator)
        return event

    def ensure_replay_log(self) -> None:
        """The replay log is provisioned with the other topics; refuse to replay without it
        (the replay role may not create topics)."""
        admin = AdminClient(self.kafka.confluent_config())
        name = replay_log_topic(self.kafka)
        try:
            topics = admin.list_topics(topic=name, timeout=30).topics
        except KafkaException as exc:
            raise BrokerUnavailableError(f"cannot reach Kafka: {exc.args[0]}") from None
        meta = topics.get(name)
        if meta is None or meta.error is not None:
            raise BrokerUnavailableError(
                f"the replay log {name} is missing or not readable: provision the topics "
                "(python -m mash_common.provision) and the access (python -m mash_common.access)")

    def _produce_plain(self, topic: str, key: str, value: bytes) -> None:
        producer = Producer(self.kafka.producer_config())
        errors: list[str] = []
        producer.produce(topic, key=key.encode(), value=value,
                         on_delivery=lambda err, _msg: errors.append(str(err)) if err else None)
        if producer.flush(30) != 0 or errors:
            raise BrokerUnavailableError(f"could not write to {topic}: {errors or 'timeout'}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# -- command line ---------------------------------------------------------------------


def _print_list(entries: list[Entry], as_json: bool) -> None:
    rows = []
    for e in entries:
        dl = e.letter
        rows.append({
            "position": f"{e.partition}:{e.offset}",
            "stage": dl.stage if dl else None,
            "reason_code": dl.reason_code if dl else "UNREADABLE_DEADLETTER",
            "error": dl.error if dl else None,
            "original": f"{dl.topic}[{dl.partition}]@{dl.offset}" if dl else None,
            "at": dl.at.isoformat(timespec="seconds") if dl else None,
            "replays": e.replays,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Dead letters ({len(rows)})")
    for col in ("position", "stage", "reason_code", "error", "original", "at", "replays"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[c]) if row[c] is not None else "-" for c in row))
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mash-deadletter", description=__doc__.splitlines()[0])
    add_kafka_options(parser)
    parser.add_argument("--log-level", default="WARNING", help="default WARNING")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list dead letters")
    p_list.add_argument("--reason", default=None, help="only this reason_code (default: every reason)")
    p_list.add_argument("--json", action="store_true", help="print JSON for scripts")
    p_inspect = sub.add_parser("inspect", help="show one dead letter, personal data hidden")
    p_inspect.add_argument("position", type=parse_position, help="PARTITION:OFFSET")
    p_inspect.add_argument("--show-personal-data", action="store_true",
                           help="show personal data (audited; needs --operator)")
    p_inspect.add_argument("--operator", default=None, help="your name, for the audit trail")
    p_replay = sub.add_parser("replay", help="re-produce the original message, once")
    p_replay.add_argument("position", type=parse_position, help="PARTITION:OFFSET")
    p_replay.add_argument("--operator", required=True, help="your name, for the audit trail")
    p_replay.add_argument("--force", action="store_true", help="replay even if replayed before")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    tool = DeadLetterTool(kafka_from_args(args), audit_keys=AuditKeys.from_env())
    try:
        if args.command == "list":
            _print_list(tool.entries(args.reason), args.json)
        elif args.command == "inspect":
            partition, offset = args.position
            print(json.dumps(tool.inspect(partition, offset,
                                          show_personal_data=args.show_personal_data,
                                          operator=args.operator), indent=2))
        else:
            partition, offset = args.position
            event = tool.replay(partition, offset, operator=args.operator, force=args.force)
            print(f"replayed {event.reference}: {event.detail}")
    except AlreadyReplayedError as exc:
        print(f"not replayed: {exc}", file=sys.stderr)
        return 3
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
