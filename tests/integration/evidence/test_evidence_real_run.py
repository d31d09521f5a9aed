"""Evidence from a real run: the pipeline, the audit store and the tools on the real broker.

One run of the whole pipeline (intake, enrichment, routing, the audit store, six simulated
agencies and a hub system, each as its own principal) feeds every test here, in order:
export and verify a bundle with the command-line tools; tamper with bundles and with the
store (N random alterations, deletions, reorderings and insertions each: every one must be
found; untouched bundles must all pass); erase one case; then let retention purge the rest.
After erasure and after retention, no personal data of the cases concerned is left in the
latest value of any topic, internal changelogs (the services' state) included.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from mash_common.access import Kind
from mash_common.audittrail import AuditKeys, AuditKeySettings
from mash_common.contracts import AuditAction, AuditEvent, Referral, TriagedReferral
from mash_common.errors import SerdeError
from mash_common.serde import AvroSerde
from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.observer import Observer
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_hub.demo.synthetic import referral_stream
from mash_hub.services.intake.linking import normalise_name
from mash_ops.auditdb import AuditStore, open_engine
from mash_ops.evidence import verify_bundle
from mash_ops.reading import read_topics
from mash_sdk.simulated.agency import Behaviour, Profile, run_agencies
from tests.support.tamper import KINDS, run_trials, tamper_bundle, tamper_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Probation never answers: some cases are assembled PARTIAL at their deadline, so chases
# and deadline events are in the evidence too.
PROFILE = Profile(agencies={"probation": Behaviour(silence_rate=1.0)})
BUNDLE_TRIALS = 250  # per kind: 1,000 tampered bundles
STORE_TRIALS = 50  # per kind: 200 tampered stores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], list[str]], timeout_s: float, pause_s: float = 0.5) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (problems := check()) and time.monotonic() < deadline:
        time.sleep(pause_s)  # between looks; the condition itself is re-checked each time
    return problems


@dataclass
class Run:
    hub: SecuredHub
    pipeline: Pipeline
    tmp: Path
    db_url: str
    keys_file: Path
    referrals: list[Referral]

    @property
    def keys(self) -> AuditKeys:
        keys = AuditKeys.load(AuditKeySettings(keys_file=self.keys_file))
        assert keys is not None
        return keys

    def store(self) -> AuditStore:
        return AuditStore(open_engine(self.db_url), self.keys)

    def env(self) -> dict[str, str]:
        return {**os.environ, "MASH_AUDIT_KEYS_FILE": str(self.keys_file),
                "MASH_AUDITSTORE_DATABASE_URL": self.db_url,
                "MASH_ERASURE_DATABASE_URL": self.db_url}

    def tool(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=180, env={**self.env(), **(extra_env or {})})


def _audit_ids_on_topic(run: Run) -> set[str]:
    serde = AvroSerde()
    ids = set()
    for record in read_topics(run.hub.admin, [run.hub.admin.topics.audit]):
        if record.value is not None:
            ids.add(serde.decode(record.value, AuditEvent).event_id)
    return ids


@pytest.fixture(scope="module")
def run(module_hub: SecuredHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("evidence")
    db_url = f"sqlite:///{tmp / 'audit.db'}"
    ports = {s: _free_port() for s in ("intake", "enrichment", "routing", "auditstore")}
    pipeline = Pipeline(module_hub, PipelineOptions(
        run_dir=tmp, due_red_s=6, due_amber_s=8, due_green_s=10, metrics_ports=ports,
        audit_store_url=db_url))
    items = list(referral_stream(10, seed=11, reject_share=0.0, repeat_share=0.0, run_tag="ev"))
    referrals = [i.referral for i in items if i.referral is not None]
    expected = {r.referral_id: False for r in referrals}
    agencies = hub_system = observer = None
    try:
        pipeline.start(lambda _: None)
        agencies = run_agencies({a: module_hub.agency(a) for a in sorted(module_hub.hub.agencies)},
                                profile=PROFILE)
        hub_system = HubSystem(module_hub.hub_system()).start()
        observer = Observer(module_hub.ops_reader).start()
        serde = AvroSerde()
        producers = {s: Producer(module_hub.source(s).producer_config())
                     for s in module_hub.hub.source_systems}
        for referral in referrals:
            observer.note_sent(referral.referral_id, referral.source_system)
            producers[referral.source_system].produce(
                module_hub.admin.topics.referrals(referral.source_system),
                key=referral.referral_id.encode(), value=serde.encode(referral))
        assert all(p.flush(30) == 0 for p in producers.values())
        outstanding = _wait(lambda: observer.outstanding(expected), timeout_s=150)
        assert outstanding == [], f"not through: {outstanding}"
        result = Run(module_hub, pipeline, tmp, db_url, pipeline.options.audit_keys_file, referrals)

        def store_behind() -> list[str]:
            missing = _audit_ids_on_topic(result) - {
                r.event_id for c in result.store().chains() for r in result.store().rows(c)}
            return [f"{len(missing)} audit events not in the store yet"] if missing else []

        assert _wait(store_behind, timeout_s=60, pause_s=1.0) == []
        yield result
    finally:
        for part in (observer, hub_system, agencies):
            if part is not None:
                part.stop()
        pipeline.stop()


def _cases(run: Run) -> list[str]:
    return [c for c in run.store().chains() if not c.startswith("nocase/")]


def _richest_case(run: Run) -> str:
    store = run.store()
    return max(_cases(run), key=lambda c: len(store.rows(c)))


def test_a_real_run_exports_and_verifies_with_the_tools(run: Run) -> None:
    store = run.store()
    assert store.rejected() == [], "every service MACs its audit events with the run's key"
    check = run.tool("mash_ops.evidence", "check-store")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK" in check.stdout
    case_id = _richest_case(run)
    out = run.tmp / f"{case_id}.zip"
    exported = run.tool("mash_ops.evidence", "export", "--case", case_id, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    verified = run.tool("mash_ops.evidence", "verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK")
    # Anyone with the public key verifies it too, without the hub's secret keys.
    public = run.tool("mash_ops.evidence", "verify", str(out), "--public-key",
                      str(run.pipeline.options.bundle_public_key),
                      extra_env={"MASH_AUDIT_KEYS_FILE": "/nonexistent"})
    assert public.returncode == 0, public.stdout + public.stderr
    with zipfile.ZipFile(out) as bundle:
        names = set(bundle.namelist())
        lines = [json.loads(line) for line in bundle.read("events.jsonl").splitlines()]
        report = json.loads(bundle.read("disclosures.json"))
        summary = bundle.read("summary.html").decode()
    assert names == {"manifest.json", "events.jsonl", "disclosures.json", "summary.html"}
    actions = {line["event"]["action"] for line in lines}
    assert {"REFERRAL_RECEIVED", "REFERRAL_RATED", "REQUEST_SENT", "CASE_ASSEMBLED",
            "DECISION_RECEIVED", "NOTIFICATION_SENT"} <= actions, actions
    assert report["asked"] and all(a["legal_basis"] for a in report["asked"])
    assert report["passed_on"]
    assert case_id in summary and "Who was asked what" in summary
    # Every case of the run exports a bundle that verifies: no false alarms.
    for other in _cases(run):
        path = run.tmp / f"untouched-{other}.zip"
        from mash_ops.evidence import export_bundle
        export_bundle(store, other, path, exported_by="test")
        verdict = verify_bundle(path.read_bytes(), run.keys)
        assert verdict.ok, verdict.problems


def test_tampered_bundles_are_all_found_and_untouched_ones_all_pass(run: Run) -> None:
    case_id = _richest_case(run)
    path = run.tmp / f"{case_id}.zip"
    if not path.exists():
        from mash_ops.evidence import export_bundle
        export_bundle(run.store(), case_id, path, exported_by="test")
    pristine = path.read_bytes()
    keys = run.keys
    missed: list[str] = []

    def trial(kind: str, rng: random.Random) -> bool:
        data, what = tamper_bundle(pristine, kind, rng)
        verdict = verify_bundle(data, keys)
        if verdict.ok:
            missed.append(f"{kind}: {what}")
            return False
        if kind != "alter":  # the verifier says which kind it was
            word = {"delete": "removed", "reorder": "reordered", "insert": "inserted"}[kind]
            if not any(p.startswith(word) for p in verdict.problems):
                missed.append(f"{kind} reported as {verdict.problems[:2]}: {what}")
                return False
        return True

    figures = run_trials(BUNDLE_TRIALS, seed=13, trial=trial)
    false_alarms = sum(not verify_bundle(pristine, keys).ok for _ in range(BUNDLE_TRIALS))
    print(f"\nbundle tamper test on case {case_id}: "
          + ", ".join(f"{k} {d}/{n}" for k, (d, n) in figures.items())
          + f"; untouched {BUNDLE_TRIALS - false_alarms}/{BUNDLE_TRIALS} OK")
    assert missed == []
    assert all(d == n for d, n in figures.values())
    assert false_alarms == 0
    # The command line says what and exits non-zero.
    data, what = tamper_bundle(pristine, "delete", random.Random(1))
    (run.tmp / "tampered.zip").write_bytes(data)
    result = run.tool("mash_ops.evidence", "verify", str(run.tmp / "tampered.zip"))
    assert result.returncode == 1
    assert "TAMPERED" in result.stdout and "removed: event #" in result.stdout, result.stdout


def test_a_tampered_store_is_always_found(run: Run) -> None:
    db = Path(run.db_url.removeprefix("sqlite:///"))
    snapshot = run.tmp / "pristine.db"
    # A consistent copy while the store may still be writing (SQLite's backup API).
    import sqlite3
    src, dst = sqlite3.connect(db), sqlite3.connect(snapshot)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    keys = run.keys
    pristine = AuditStore(open_engine(f"sqlite:///{snapshot}"), keys)
    heads = pristine.heads()
    assert all(r.ok for r in pristine.verify_all(heads))
    chains = _cases(run)
    copy = run.tmp / "tampered.db"
    missed: list[str] = []

    def trial(kind: str, rng: random.Random) -> bool:
        chain = rng.choice(chains)
        what = tamper_store(snapshot, copy, chain, kind, rng)
        engine = open_engine(f"sqlite:///{copy}")
        try:
            reports = AuditStore(engine, keys).verify_all(heads)
        finally:
            engine.dispose()
        broken = {r.chain for r in reports if not r.ok}
        if broken != {chain}:
            missed.append(f"{kind} {what} on {chain}: broken {sorted(broken)}")
            return False
        return True

    figures = run_trials(STORE_TRIALS, seed=17, trial=trial)
    untouched = sum(r.ok for r in pristine.verify_all(heads))
    print(f"\nstore tamper test over {len(chains)} chains: "
          + ", ".join(f"{k} {d}/{n}" for k, (d, n) in figures.items())
          + f"; untouched chains {untouched}/{len(pristine.chains())} OK")
    assert missed == []
    assert sum(d for d, _ in figures.values()) == STORE_TRIALS * len(KINDS)
    assert untouched == len(pristine.chains())


# Erasure and retention ----------------------------------------------------------------


def _personal_markers(referral: Referral) -> list[bytes]:
    """Strings that identify the child, as they would appear in any record or state."""
    s = referral.subject  # (narratives are templates in the synthetic data: not a marker)
    given, family = s.given_name.encode(), s.family_name.encode()
    markers = [
        normalise_name(s.given_name, s.family_name).encode(),  # intake's linking state
        # Avro strings are length-prefixed: given then family name, one varint byte apart.
        given + bytes([len(family) * 2]) + family,
        # JSON state: "given_name":"...","family_name":"..."
        json.dumps({"given_name": s.given_name, "family_name": s.family_name},
                   separators=(",", ":"), ensure_ascii=False).encode()[1:-1],
    ]
    if s.nhs_number:
        markers.append(s.nhs_number.replace(" ", "").encode())
    return [m for m in markers if len(m) >= 6]


def _latest_values(run: Run) -> dict[tuple[str, bytes], bytes]:
    """(topic, key) -> latest value, over every topic of this hub, internal ones included;
    keys whose latest value is a tombstone are left out."""
    admin = run.hub.admin
    topics = [t for t in AdminClient(admin.confluent_config()).list_topics(timeout=10).topics
              if t.startswith(admin.topic_prefix)]
    latest: dict[tuple[str, bytes], bytes | None] = {}
    for record in read_topics(admin, topics, timeout_s=120):
        if record.key is not None:
            latest[(record.topic, record.key)] = record.value
    out: dict[tuple[str, bytes], bytes] = {}
    for k, v in latest.items():
        if v is None:
            continue
        with contextlib.suppress(zlib.error):  # enrichment's state is zlib-compressed
            v = v + zlib.decompress(v)
        out[k] = v
    return out


def _found(values: dict[tuple[str, bytes], bytes], referrals: list[Referral]) -> list[str]:
    hits = []
    for referral in referrals:
        markers = _personal_markers(referral)
        for (topic, _key), value in values.items():
            if any(m in value for m in markers):
                hits.append(f"{referral.referral_id}'s child in {topic}")
    return sorted(set(hits))


def _triaged_by_case(run: Run) -> dict[str, list[Referral]]:
    serde = AvroSerde()
    found: dict[str, list[Referral]] = {}
    for record in read_topics(run.hub.admin, list(run.hub.admin.topics.triaged_lanes)):
        if record.value is None:
            continue
        try:
            t = serde.decode(record.value, TriagedReferral)
        except SerdeError:
            continue
        found.setdefault(t.case_id, []).append(t.referral)
    return found


def test_erasure_leaves_no_personal_data_of_the_case_anywhere(run: Run) -> None:
    by_case = _triaged_by_case(run)
    # A case whose child appears in no other case, so what is left is another case's.
    def identity(r: Referral) -> str:
        return normalise_name(r.subject.given_name, r.subject.family_name)
    counts: dict[str, int] = {}
    for referrals in by_case.values():
        for name in {identity(r) for r in referrals}:
            counts[name] = counts.get(name, 0) + 1
    case_id = next(c for c, rs in sorted(by_case.items())
                   if all(counts[identity(r)] == 1 for r in rs))
    referrals = by_case[case_id]
    before = _found(_latest_values(run), referrals)
    assert before, "the check must see the child's data before erasure, or it proves nothing"

    result = run.tool("mash_ops.erasure", "erase", "--case", case_id, "--operator", "ig-lead",
                      "--reason", "test: erasure request ER-1",
                      extra_env={"MASH_KAFKA_CLIENT_CONFIG": str(run.hub.client_config(Kind.OPS, "erasure")),
                                 "MASH_KAFKA_TOPIC_PREFIX": run.hub.admin.topic_prefix})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"case {case_id}" in result.stdout and "tombstones written" in result.stdout
    print("\n" + result.stdout)

    left = _wait(lambda: _found(_latest_values(run), referrals), timeout_s=90, pause_s=2.0)
    assert left == [], f"personal data left after erasure: {left}"
    # Every service said it purged, on the record, and the chain still verifies.
    store = run.store()

    def purges() -> list[str]:
        actors = {r.event.actor for r in store.rows(case_id) if not r.redacted
                  and r.event.action in (AuditAction.CASE_ERASED, AuditAction.RETENTION_PURGED)}
        wanted = {"mash-hub/intake", "mash-hub/enrichment", "mash-hub/routing", "ops/ig-lead"}
        return sorted(wanted - actors)

    assert _wait(purges, timeout_s=60) == []
    report = store.verify(case_id)
    assert report.ok, report.problems
    assert report.redacted > 0
    check = run.tool("mash_ops.evidence", "check-store")
    assert check.returncode == 0, check.stdout
    # The erased case still exports, and verifies, with its redactions shown.
    out = run.tmp / "erased.zip"
    assert run.tool("mash_ops.evidence", "export", "--case", case_id, "--out", str(out)).returncode == 0
    verified = run.tool("mash_ops.evidence", "verify", str(out))
    assert verified.returncode == 0, verified.stdout
    with zipfile.ZipFile(out) as bundle:
        body = bundle.read("events.jsonl").decode()
    assert "RECORD_REDACTED" in body and "test: erasure request ER-1" in body
    for referral in referrals:
        assert not any(m.decode(errors="ignore") in body for m in _personal_markers(referral))


def test_retention_purges_every_case_past_its_period(run: Run) -> None:
    every = [r for rs in _triaged_by_case(run).values() for r in rs]
    assert _found(_latest_values(run), every), "some child's data must be there before"
    result = run.tool("mash_ops.erasure", "retention", "--older-than-days", "0",
                      "--operator", "retention-job",
                      extra_env={"MASH_KAFKA_CLIENT_CONFIG": str(run.hub.client_config(Kind.OPS, "erasure")),
                                 "MASH_KAFKA_TOPIC_PREFIX": run.hub.admin.topic_prefix})
    assert result.returncode == 0, result.stdout + result.stderr
    left = _wait(lambda: _found(_latest_values(run), every), timeout_s=120, pause_s=2.0)
    assert left == [], f"personal data left after retention: {left}"
    # The assembled-case topic's latest value of every case is a tombstone now.
    latest = _latest_values(run)
    assert not [k for k in latest if k[0] == run.hub.admin.topics.assembled]
    store = run.store()

    def acted(case_id: str, action: AuditAction, actor: str) -> bool:
        return any(not r.redacted and r.event.action is action and r.event.actor == actor
                   for r in store.rows(case_id))

    erased = {c for c in _cases(run) if acted(c, AuditAction.CASE_ERASED, "ops/ig-lead")}
    assert len(erased) == 1
    for case_id in set(_cases(run)) - erased:
        assert acted(case_id, AuditAction.RETENTION_PURGED, "ops/retention-job"), case_id
    assert all(r.ok for r in store.verify_all())
