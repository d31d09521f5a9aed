"""Who may do what on the broker: one principal per party, least privilege, from config/hub.yaml.

Pure: the model knows nothing of Kafka clients. `mash_common.access.admin` turns it into
SCRAM users and ACLs on a cluster; the deployment generator can turn the same model into
Strimzi KafkaUser resources. Nothing is allowed that is not listed here (the broker runs
with allow.everyone.if.no.acl.found=false).

Principals (each name under the hub's topic prefix, as topics are):
- service.<intake|enrichment|routing>: exactly what the service consumes and produces, and
  its own internal topics (changelogs, the link topic, faust's leader topic) and group;
- agency.<id>: reads its three request topics and its outcomes, writes its own responses
  (and dead letters for requests it cannot read);
- source.<id>: writes its own referral topic, reads its own outcomes;
- hub.<id>: reads assembled cases and its own outcomes (refused rating changes), writes
  decisions and its own rating changes (and dead letters for cases it cannot read);
- board.case-board: the live case board and the agency response page's view of requests:
  reads exactly what the board shows (triaged referrals, every agency's requests and
  responses, assembled cases, decisions), writes nothing, joins only its own groups;
- service.auditstore: reads mash.audit, nothing else (no internal topics: not a faust app),
  joins only its own group;
- ops.erasure: erasure and rectification by an authorised operator: reads the triaged
  referrals and the assembled cases (to find what a case left where), writes tombstones on
  every topic a case's records are keyed on (case_id or its referral ids) and on intake's
  link topic, a rectification's corrected records on the referral, triaged and link
  topics, and the audit event saying so;
- ops.reader: reads every pipeline topic and describes every group (lag, status, the
  dead-letter list), writes nothing;
- ops.replay: replays dead letters to the topic they came from (transactionally, with the
  replay log and an audit event), and records audited disclosures;
- tool.contract-kit (test hubs only): plays enrichment towards an adapter under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mash_common.contracts import Rag
from mash_common.hubconfig import HubConfig
from mash_common.topics import TopicNames

SERVICES = ("intake", "enrichment", "routing")
WILDCARD = "*"  # Kafka's literal wildcard resource name


class Kind(StrEnum):
    SERVICE = "service"
    AGENCY = "agency"
    SOURCE = "source"
    HUB = "hub"
    BOARD = "board"
    OPS = "ops"
    TOOL = "tool"


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    TRANSACTIONAL_ID = "transactional-id"


class Pattern(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


class Op(StrEnum):
    READ = "read"
    WRITE = "write"
    CREATE = "create"
    DESCRIBE = "describe"
    DESCRIBE_CONFIGS = "describe-configs"


@dataclass(frozen=True, order=True)
class Grant:
    """One allowed operation on one resource pattern."""

    resource: Resource
    pattern: Pattern
    name: str
    op: Op


@dataclass(frozen=True)
class Principal:
    """One SCRAM user and everything it may do."""

    user: str  # the SCRAM user name, e.g. "service.intake" (under the hub's prefix)
    kind: Kind
    party: str  # the id in hub.yaml, or the service / role name
    role: str  # one line for the access table
    group_prefix: str  # every consumer group it uses starts with this
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    def may(self, op: Op, resource: Resource, name: str) -> bool:
        """Whether a grant covers op on the named resource (as the broker decides)."""
        for grant in self.grants:
            if grant.resource is not resource:
                continue
            matches = (grant.name in (name, WILDCARD) if grant.pattern is Pattern.LITERAL
                       else name.startswith(grant.name))
            if matches and (grant.op is op or _implies(grant.op, op)):
                return True
        return False


def _implies(granted: Op, wanted: Op) -> bool:
    # Kafka: READ, WRITE and DELETE (and ALTER) imply DESCRIBE.
    return wanted is Op.DESCRIBE and granted in (Op.READ, Op.WRITE)


class _Builder:
    def __init__(self) -> None:
        self.grants: set[Grant] = set()

    def topics(self, names: list[str], *ops: Op) -> _Builder:
        for name in names:
            for op in ops:
                self.grants.add(Grant(Resource.TOPIC, Pattern.LITERAL, name, op))
        return self

    def topic_prefix(self, prefix: str, *ops: Op) -> _Builder:
        for op in ops:
            self.grants.add(Grant(Resource.TOPIC, Pattern.PREFIXED, prefix, op))
        return self

    def groups(self, prefix: str) -> _Builder:
        for op in (Op.READ, Op.DESCRIBE):
            self.grants.add(Grant(Resource.GROUP, Pattern.PREFIXED, prefix, op))
        return self

    def describe_groups(self, prefix: str) -> _Builder:
        # Kafka has no empty prefix: a hub without one describes every group ("*").
        grant = (Grant(Resource.GROUP, Pattern.PREFIXED, prefix, Op.DESCRIBE) if prefix
                 else Grant(Resource.GROUP, Pattern.LITERAL, WILDCARD, Op.DESCRIBE))
        self.grants.add(grant)
        return self

    def transactional_id(self, name: str) -> _Builder:
        for op in (Op.WRITE, Op.DESCRIBE):
            self.grants.add(Grant(Resource.TRANSACTIONAL_ID, Pattern.LITERAL, name, op))
        return self

    def build(self) -> tuple[Grant, ...]:
        return tuple(sorted(self.grants))


def service_app_id(prefix: str, service: str) -> str:
    """The faust app id (its consumer group and the stem of its internal topics)."""
    return f"{prefix}mash-{service}"


def adapter_group(prefix: str, agency: str) -> str:
    return f"{prefix}mash-adapter-{agency}"


def auditstore_group(prefix: str) -> str:
    return f"{prefix}mash-auditstore"


def intake_link_topic(prefix: str) -> str:
    """Intake's internal topic keyed by the child's blocking key (services/intake/app.py)."""
    return f"{service_app_id(prefix, 'intake')}-link"


def intake_link_topics(prefix: str) -> tuple[str, str]:
    """Both of intake's link topics: the Red lane's and the rest's, keyed alike."""
    return f"{intake_link_topic(prefix)}-red", intake_link_topic(prefix)


BOARD_PARTY = "case-board"


def board_group(prefix: str) -> str:
    return f"{prefix}mash-board"


def replay_transactional_id(prefix: str) -> str:
    return f"{prefix}mash-ops-deadletter-replay"


def access_model(names: TopicNames, hub: HubConfig, *, test_tools: bool = False) -> list[Principal]:
    """Every principal of the hub and its grants. `test_tools` adds the contract kit's."""
    p = names.prefix
    agencies = sorted(hub.agencies)
    sources = sorted(hub.source_systems)
    recipients = hub.outcome_recipients
    R, W, C, D, DC = Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DESCRIBE_CONFIGS
    requests = [names.requests(a, rag) for a in agencies for rag in Rag]
    shared_out = [names.deadletter, names.audit]
    principals: list[Principal] = []

    def service(name: str, reads: list[str], writes: list[str], role: str) -> None:
        app_id = service_app_id(p, name)
        grants = (_Builder().topics(reads, R).topics(writes, W)
                  # Its own internal topics: changelogs, repartition/link topics, faust's
                  # leader topic. Created by the service itself before its worker starts.
                  .topic_prefix(f"{app_id}-", R, W, C, D, DC)
                  .groups(app_id).build())
        principals.append(Principal(f"{p}service.{name}", Kind.SERVICE, name, role, app_id, grants))

    hubs = sorted(hub.hub_systems)
    service("intake", [names.referrals(s) for s in sources],
            [*names.triaged_lanes, *[names.outcomes(s) for s in sources], *shared_out],
            "validates, dedupes, links and rates referrals; tells senders RECEIVED/REJECTED")
    service("enrichment", [*names.triaged_lanes, *[names.responses(a) for a in agencies],
                           *[names.ratings(h) for h in hubs]],
            [*requests, names.assembled, *[names.outcomes(h) for h in hubs], *shared_out],
            "asks agencies as the agreement allows, gathers answers, assembles cases; "
            "applies managers' rating changes")
    service("routing", [names.assembled, names.decisions],
            [*[names.outcomes(r) for r in recipients], *shared_out],
            "tells referrers and contributing agencies the outcome")

    for agency in agencies:
        group = adapter_group(p, agency)
        grants = (_Builder()
                  .topics([names.requests(agency, rag) for rag in Rag], R)
                  .topics([names.outcomes(agency)], R)
                  .topics([names.responses(agency), names.deadletter], W)
                  .groups(group).build())
        principals.append(Principal(f"{p}agency.{agency}", Kind.AGENCY, agency,
                                    f"{hub.agencies[agency].name}'s adapter", group, grants))
    for source in sources:
        group = f"{p}mash-source-{source}"
        grants = (_Builder().topics([names.referrals(source)], W)
                  .topics([names.outcomes(source)], R).groups(group).build())
        principals.append(Principal(f"{p}source.{source}", Kind.SOURCE, source,
                                    hub.source_systems[source].name, group, grants))
    for system in sorted(hub.hub_systems):
        group = f"{p}mash-hub-{system}"
        grants = (_Builder().topics([names.assembled, names.outcomes(system)], R)
                  # Dead letters: a case it cannot read is set aside, not dropped.
                  .topics([names.decisions, names.ratings(system), names.deadletter], W)
                  .groups(group).build())
        principals.append(Principal(f"{p}hub.{system}", Kind.HUB, system,
                                    hub.hub_systems[system].name, group, grants))

    group = board_group(p)
    board = (_Builder()
             .topics([*names.triaged_lanes, *requests, *[names.responses(a) for a in agencies],
                      names.assembled, names.decisions], R)
             .groups(group).build())
    principals.append(Principal(f"{p}board.{BOARD_PARTY}", Kind.BOARD, BOARD_PARTY,
                                "the live case board (hub staff, wall screen), read-only", group,
                                board))

    group = auditstore_group(p)
    auditstore = _Builder().topics([names.audit], R).groups(group).build()
    principals.append(Principal(f"{p}service.auditstore", Kind.SERVICE, "auditstore",
                                "keeps mash.audit in the append-only, hash-chained audit store",
                                group, auditstore))

    ops_group = f"{p}mash-ops-"
    reader = (_Builder()
              .topic_prefix(f"{p}mash.", R, DC)
              # Lag needs every group's committed offsets (and the services' internal
              # topics' ends); describing is not joining.
              .describe_groups(p)
              .topic_prefix(f"{p}mash-", D)
              .groups(ops_group).build())
    principals.append(Principal(f"{p}ops.reader", Kind.OPS, "reader",
                                "operations, read-only: lag, status, dead-letter list", ops_group,
                                reader))
    inbound = ([names.referrals(s) for s in sources] + [names.responses(a) for a in agencies]
               + [names.ratings(h) for h in hubs]
               + [*names.triaged_lanes, names.assembled, names.decisions])
    replay = (_Builder()
              .topics([names.deadletter, names.replay_log], R)
              .topics([*inbound, names.replay_log, names.audit], W)
              .transactional_id(replay_transactional_id(p))
              # Its throwaway readers (assigned, never committing) still look up a group
              # coordinator, which takes describing an operations group.
              .describe_groups(ops_group)
              .groups(f"{p}mash-ops-replay").build())
    principals.append(Principal(f"{p}ops.replay", Kind.OPS, "replay",
                                "operations, privileged: replay dead letters, audited disclosure",
                                f"{p}mash-ops-replay", replay))

    erasure_group = f"{p}mash-ops-erasure"
    erasure = (_Builder()
               .topics([*names.triaged_lanes, names.assembled], R)
               .topics([*[names.referrals(s) for s in sources], *names.triaged_lanes, *requests,
                        *[names.responses(a) for a in agencies], names.assembled,
                        names.decisions, *[names.ratings(h) for h in hubs],
                        *[names.outcomes(r) for r in recipients],
                        *[names.outcomes(h) for h in hubs],
                        *intake_link_topics(p), names.audit], W)
               .describe_groups(erasure_group)
               .groups(erasure_group).build())
    principals.append(Principal(f"{p}ops.erasure", Kind.OPS, "erasure",
                                "operations, privileged: erase a case (tombstones) or rectify it, audited",
                                erasure_group, erasure))

    if test_tools:
        kit_group = f"{p}mash-contract-kit"
        kit = (_Builder().topics(requests, W)
               .topics([names.responses(a) for a in agencies] + [names.deadletter], R)
               .groups(kit_group).build())
        principals.append(Principal(f"{p}tool.contract-kit", Kind.TOOL, "contract-kit",
                                    "contract kit: plays enrichment towards an adapter (test hubs)",
                                    kit_group, kit))
    return principals


def by_party(principals: list[Principal], kind: Kind, party: str) -> Principal:
    for principal in principals:
        if principal.kind is kind and principal.party == party:
            return principal
    raise KeyError(f"no {kind.value} principal {party}")


def explain(principals: list[Principal], prefix: str = "") -> str:
    """The access table: who may read, write, create and join which group."""

    def short(name: str) -> str:
        return name[len(prefix):] if prefix and name.startswith(prefix) else name

    def list_of(principal: Principal, resource: Resource, op: Op) -> str:
        found = [short(g.name) + ("*" if g.pattern is Pattern.PREFIXED else "")
                 for g in principal.grants if g.resource is resource and g.op is op]
        return ", ".join(found) or "-"

    lines = [f"{'principal':<24} {'may':<8} resources (* = any name starting so)"]
    for principal in principals:
        lines.append(f"{short(principal.user):<24} {'role':<8} {principal.role}")
        for label, resource, op in (
            ("read", Resource.TOPIC, Op.READ),
            ("write", Resource.TOPIC, Op.WRITE),
            ("create", Resource.TOPIC, Op.CREATE),
            ("describe", Resource.TOPIC, Op.DESCRIBE),
            ("join", Resource.GROUP, Op.READ),
            ("groups?", Resource.GROUP, Op.DESCRIBE),
            ("txn", Resource.TRANSACTIONAL_ID, Op.WRITE),
        ):
            if resource is Resource.GROUP and op is Op.DESCRIBE:
                joined = {g.name for g in principal.grants if g.resource is resource and g.op is Op.READ}
                only = [g for g in principal.grants
                        if g.resource is resource and g.op is op and g.name not in joined]
                text = ", ".join(short(g.name) + "*" for g in only) or "-"
                label = "describe"
            else:
                text = list_of(principal, resource, op)
            if text != "-":
                lines.append(f"{'':<24} {label:<8} {text}")
    lines.append("")
    lines.append("Nothing else is allowed: the broker denies what no ACL allows. "
                 "The super user `admin` is for administration only.")
    return "\n".join(lines)
