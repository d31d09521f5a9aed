"""Red first (#19): how long one Red referral takes from its source system's topic to the
agencies' Red request topics, with no backlog and with 10,000 Green referrals queued ahead of
it, in one run on one pipeline.

No backlog: the pipeline idle, the Red referral sent, the clock runs from the broker's
acknowledgement of it. Backlog: intake stopped (an outage), the Green referrals sent, then
the Red one (so it is behind every Green one on its source system's topic), then intake
started; the clock runs from intake's Ready. Either way it stops at the Kafka timestamp of
the first and of the last of the Red case's requests (every agency the agreement asks at
Red). While the Red one went through, the bench notes how far intake and enrichment had got
with the Green backlog (referrals triaged, Green requests sent), and then how long the
backlog took to drain through intake.

No agencies answer and deadlines are long (nothing is chased or assembled meanwhile).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from mash_common.contracts import Concern, Consent, ConsentStatus, Indicator, Rag, Subject
from mash_common.serde import AvroSerde
from mash_hub.bench.harness import POPULATION_SEED, Prepared, consumer_config, end_offsets
from mash_hub.bench.session import Ctx, Session
from mash_hub.demo.processes import FAUST_READY
from mash_hub.demo.synthetic import referral_stream
from mash_hub.services.intake.logic import case_reference
from mash_sdk.simulated.agency import PROFILES
from mash_sdk.simulated.population import REFERENCE_DATE, population

BACKLOG = 10_000
QUICK_BACKLOG = 1_000
BASELINE_REDS = 3
DUE_S = (900.0, 1800.0, 3600.0)  # nothing is due while the bench runs
WAIT_S = 600.0


def prepare(tag: str, count: int, people: list[Any], red: bool) -> list[Prepared]:
    """Referrals about different children (no linking), each Green by its content (neglect,
    no indicator, consent given, older than one) or Red (immediate danger)."""
    serde = AvroSerde()
    out = []
    stream = referral_stream(count, seed=19 if red else 23, run_tag=tag, repeat_share=0.0,
                             reject_share=0.0)
    for item, p in zip(stream, people, strict=False):
        assert item.referral is not None
        subject = Subject(given_name=p.given_name, family_name=p.family_name,
                          date_of_birth=p.date_of_birth, nhs_number=p.nhs_number, postcode=p.postcode)
        r = item.referral.model_copy(update={
            "subject": subject, "concerns": [Concern.NEGLECT],
            "indicators": [Indicator.IMMEDIATE_DANGER] if red else [],
            "consent": Consent(status=ConsentStatus.GIVEN),
            "source_system": "police-niche" if red else item.referral.source_system,
        })
        out.append(Prepared(r.referral_id, r.source_system, r.referral_id.encode(), serde.encode(r)))
    if len(out) != count:
        raise RuntimeError(f"prepared {len(out)} of {count} referrals")
    return out


class RedWatch:
    """Reads every agency's Red request topic from its end, for one case at a time."""

    def __init__(self, session: Session) -> None:
        names = session.names
        self.topics = [names.requests(a, Rag.RED) for a in sorted(session.hub.hub.agencies)]
        self.consumer = Consumer(consumer_config(session.observer, **{
            "group.id": f"{session.observer.topic_prefix}mash-ops-bench-redfirst",
            "enable.auto.commit": False, "fetch.wait.max.ms": 10,
        }))
        meta = self.consumer.list_topics(timeout=20)
        self.consumer.assign([TopicPartition(t, p, OFFSET_END) for t in self.topics
                              for p in meta.topics[t].partitions])

    def wait(self, case_id: str, agencies: int, timeout_s: float = WAIT_S) -> list[float]:
        """Kafka timestamps (s) of the first request to each agency for the case."""
        seen: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        key = case_id.encode()
        while len(seen) < agencies:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Red case's requests did not all arrive in {timeout_s:.0f} s")
            msg = self.consumer.poll(0.05)
            if msg is None or msg.error() or msg.key() != key:
                continue
            seen.setdefault(msg.topic(), msg.timestamp()[1] / 1000)
        return sorted(seen.values())

    def close(self) -> None:
        self.consumer.close()


def children(total: int) -> list[Any]:
    """Children older than one on the bench's day (no Amber "baby under one" rule)."""
    people = population(POPULATION_SEED, int(total * 1.2) + 50)
    older = [p for p in people if p.date_of_birth is not None
             and (REFERENCE_DATE - p.date_of_birth).days > 2 * 366]
    if len(older) < total:
        raise RuntimeError("population too small for the bench")
    return older[:total]


def _send_one(session: Session, item: Prepared) -> float:
    sources = session.sources(linger_ms=0)
    sources.produce(item)
    sources.flush(30)
    return time.time()


def _progress(session: Session) -> dict[str, int]:
    names = session.names
    offsets = end_offsets(session.observer)
    green = sum(n for t, n in offsets.items() if t.startswith(f"{names.prefix}mash.requests.")
                and t.endswith(".green"))
    return {"triaged_amber_green": offsets.get(names.triaged, 0),
            "triaged_red": offsets.get(names.triaged_red, 0), "green_requests": green}


def run(ctx: Ctx) -> dict[str, Any]:
    n = QUICK_BACKLOG if ctx.quick else BACKLOG
    ctx.say(f"[bold]Red first[/bold]: one Red referral with no backlog ({BASELINE_REDS} times), "
            f"then behind {n:,} queued Green referrals")
    people = children(n + BASELINE_REDS + 1)
    out: dict[str, Any] = {"backlog": n, "due_s": DUE_S}
    with Session(ctx, "r", due_s=DUE_S, profile=PROFILES["instant"], people=len(people),
                 agencies=False, tracking=False) as session:
        agencies = len(session.hub.hub.agencies)  # Red with consent: every agency is asked
        tag = session.run.tag
        reds = prepare(f"{tag}red", BASELINE_REDS + 1, people[n:], red=True)
        greens = prepare(f"{tag}green", n, people[:n], red=False)
        watch = RedWatch(session)
        try:
            baseline = []
            for red in reds[:BASELINE_REDS]:
                sent = _send_one(session, red)
                stamps = watch.wait(case_reference(red.referral_id), agencies)
                baseline.append({"first_s": stamps[0] - sent, "all_s": stamps[-1] - sent})
                ctx.say(f"  no backlog: first request {baseline[-1]['first_s']:.3f} s, all "
                        f"{agencies} {baseline[-1]['all_s']:.3f} s")
            out["no_backlog"] = {
                "runs": baseline,
                "first_s_median": statistics.median(b["first_s"] for b in baseline),
                "all_s_median": statistics.median(b["all_s"] for b in baseline),
            }
            intake = session.run.pipeline.workers["intake"]
            intake.stop()
            ctx.say(f"  intake stopped; queuing {n:,} Green referrals, then the Red one")
            queued_from = time.time()
            session.burst(greens)
            red = reds[BASELINE_REDS]
            red_sent = _send_one(session, red)
            out["queue_s"] = red_sent - queued_from
            before = _progress(session)
            intake.start()
            intake.wait_for_log(FAUST_READY, timeout_s=300)
            ready = time.time()
            stamps = watch.wait(case_reference(red.referral_id), agencies)
            at_red = _progress(session)
            backlog = {"first_s": stamps[0] - ready, "all_s": stamps[-1] - ready,
                       "first_s_from_sent": stamps[0] - red_sent}
            ctx.say(f"  behind {n:,} Green: first request {backlog['first_s']:.3f} s after intake "
                    f"was ready, all {agencies} {backlog['all_s']:.3f} s; by then "
                    f"{at_red['triaged_amber_green'] - before['triaged_amber_green']:,} Green "
                    f"referrals were triaged and {at_red['green_requests'] - before['green_requests']:,} "
                    "Green requests sent")
            drained = None
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                now = _progress(session)
                if now["triaged_amber_green"] - before["triaged_amber_green"] >= n:
                    drained = time.time() - ready
                    break
                time.sleep(0.5)  # polling end offsets
            end = _progress(session)
            out["backlog_run"] = {
                **backlog, "greens_triaged_before_red": at_red["triaged_amber_green"] - before["triaged_amber_green"],
                "green_requests_before_red": at_red["green_requests"] - before["green_requests"],
                "green_requests_at_drain": end["green_requests"] - before["green_requests"],
                "intake_drained_s": drained,
            }
            took = f"{drained:.1f} s" if drained is not None else "more than the wait"
            ctx.say(f"  the Green backlog was through intake after {took}")
        finally:
            watch.close()
    return out
