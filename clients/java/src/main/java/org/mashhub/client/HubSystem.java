package org.mashhub.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import mash.AssembledCase;
import mash.Decision;
import mash.DecisionOutcome;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A hub system: reads assembled cases and publishes a Decision for each (docs/hub-systems.md).
 *
 * <p>A case's first version gets revision 1; a later version that brings referrals the last
 * decision did not cover gets a revised decision, so the new referrers hear the outcome.
 * Older or repeated versions change nothing. A real case system keeps this state in its own
 * database; this reference keeps it in memory, and after a restart re-publishes revision 1,
 * which routing recognises as already notified.
 *
 * <p>The choice of outcome (by RAG) is a placeholder for a practitioner's decision.
 */
public final class HubSystem extends RecordLoop {
    private final String decisionsTopic;
    private final String hubId;
    private final Clock clock;
    private final Map<String, Integer> revisions = new HashMap<>();
    private final Map<String, Set<String>> covered = new HashMap<>();

    public HubSystem(Properties connection, Topics topics, String hubId, Clock clock) {
        super(connection, topics.hubGroup(hubId), List.of(topics.assembled()), topics,
                "hub-" + hubId);
        this.decisionsTopic = topics.decisions();
        this.hubId = hubId;
        this.clock = clock;
    }

    @Override
    protected List<ProducerRecord<String, byte[]>> handle(ConsumerRecord<String, byte[]> record)
            throws PoisonRecordException, IOException {
        if (record.value() == null) {
            return List.of(); // a compaction tombstone: nothing to decide
        }
        AssembledCase assembled = AssembledCase.getDecoder()
                .decode(ByteBuffer.wrap(record.value()));
        String caseId = assembled.getCaseId();
        Set<String> known = covered.getOrDefault(caseId, Set.of());
        if (known.containsAll(assembled.getReferralIds())) {
            return List.of();
        }
        int revision = revisions.getOrDefault(caseId, 0) + 1;
        revisions.put(caseId, revision);
        covered.put(caseId, new HashSet<>(assembled.getReferralIds()));
        Decision decision = decide(assembled, revision);
        return List.of(new ProducerRecord<>(decisionsTopic, caseId,
                DeadLetters.toBytes(decision.toByteBuffer())));
    }

    Decision decide(AssembledCase assembled, int revision) {
        DecisionOutcome outcome = switch (assembled.getRag()) {
            case RED -> DecisionOutcome.STRATEGY_DISCUSSION;
            case AMBER -> DecisionOutcome.CHILD_IN_NEED_ASSESSMENT;
            case GREEN -> DecisionOutcome.EARLY_HELP;
        };
        return Decision.newBuilder()
                .setCaseId(assembled.getCaseId())
                .setDecidedAt(clock.instant())
                .setOutcome(outcome)
                .setRationale("Reference hub system: outcome from RAG " + assembled.getRag())
                .setDecidedBy("java-reference-hub " + hubId)
                .setLeadAgency("social-care")
                .setRevision(revision)
                .setCinPrimaryNeed("N1")
                .build();
    }
}
