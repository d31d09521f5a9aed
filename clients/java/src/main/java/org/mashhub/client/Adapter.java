package org.mashhub.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import mash.InformationRequest;
import mash.InformationResponse;
import mash.Responder;
import mash.ResponseStatus;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * An agency adapter: reads the agency's InformationRequests (Red first) and answers each
 * with one InformationResponse on the agency's own response topic, keyed by case_id.
 *
 * <p>Replace {@link Answerer} with a search of the agency's own system; this reference
 * answers NOT_KNOWN to everything. Duplicates are harmless: the hub ignores a second answer
 * to the same request_id.
 */
public final class Adapter extends RecordLoop {
    /** The agency's side: one answer per request, from its own records. */
    @FunctionalInterface
    public interface Answerer {
        InformationResponse answer(InformationRequest request, Instant now);
    }

    private final String agency;
    private final String responseTopic;
    private final Answerer answerer;
    private final Clock clock;

    public Adapter(Properties connection, Topics topics, String agency, String responseTopic,
            Answerer answerer, Clock clock) {
        super(connection, topics.adapterGroup(agency), topics.requests(agency), topics,
                "adapter-" + agency);
        this.agency = agency;
        this.responseTopic = responseTopic;
        this.answerer = answerer;
        this.clock = clock;
    }

    /** The reference answer: the agency searched and holds nothing. */
    public static InformationResponse notKnown(InformationRequest request, Instant now) {
        return InformationResponse.newBuilder()
                .setRequestId(request.getRequestId())
                .setCaseId(request.getCaseId())
                .setAgency(request.getAgency())
                .setRespondedAt(now)
                .setStatus(ResponseStatus.NOT_KNOWN)
                .setResponder(Responder.newBuilder()
                        .setName("Java reference adapter")
                        .setRole("automated search")
                        .build())
                .build();
    }

    @Override
    protected Comparator<ConsumerRecord<String, byte[]>> order() {
        // Red work overtakes Amber and Green: topics end in .red, .amber, .green.
        return Comparator.comparingInt(r -> r.topic().endsWith(".red") ? 0
                : r.topic().endsWith(".amber") ? 1 : 2);
    }

    @Override
    protected List<ProducerRecord<String, byte[]>> handle(ConsumerRecord<String, byte[]> record)
            throws PoisonRecordException, IOException {
        if (record.value() == null) {
            throw new PoisonRecordException("UNDECODABLE", "request has no value");
        }
        InformationRequest request = InformationRequest.getDecoder()
                .decode(ByteBuffer.wrap(record.value()));
        if (!agency.equals(request.getAgency())) {
            throw new PoisonRecordException("WRONG_AGENCY",
                    "request is addressed to another agency");
        }
        InformationResponse response = answerer.answer(request, clock.instant());
        return List.of(new ProducerRecord<>(responseTopic, response.getCaseId(),
                DeadLetters.toBytes(response.toByteBuffer())));
    }
}
