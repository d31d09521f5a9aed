package org.mashhub.client;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import mash.DeadLetter;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Builds a dead letter for a record that cannot be processed: the Avro DeadLetter value
 * (original bytes, position, reason), the original record's key, headers and timestamp,
 * and Kafka Connect's error headers so Connect-aware tooling can read it too.
 *
 * <p>The reason must never contain personal data: callers pass their own words, not an
 * exception message that may quote the payload.
 */
public final class DeadLetters {
    public static final String HEADER_PREFIX = "__connect.errors.";

    private DeadLetters() {
    }

    public static ProducerRecord<String, byte[]> of(ConsumerRecord<String, byte[]> original,
            String deadLetterTopic, String stage, String reasonCode, String reason,
            Class<?> failure) throws java.io.IOException {
        byte[] key = original.key() == null ? null
                : original.key().getBytes(StandardCharsets.UTF_8);
        DeadLetter value = DeadLetter.newBuilder()
                .setTopic(original.topic())
                .setPartition(original.partition())
                .setOffset(original.offset())
                .setKey(key == null ? null : ByteBuffer.wrap(key))
                .setValue(original.value() == null ? null : ByteBuffer.wrap(original.value()))
                .setStage(stage)
                .setError(reason)
                .setAt(Instant.now())
                .setReasonCode(reasonCode)
                .build();
        RecordHeaders headers = new RecordHeaders();
        for (Header header : original.headers()) {
            headers.add(header);
        }
        put(headers, "topic", original.topic());
        put(headers, "partition", Integer.toString(original.partition()));
        put(headers, "offset", Long.toString(original.offset()));
        put(headers, "exception.class.name", failure.getName());
        put(headers, "exception.message", reason);
        put(headers, "stage", stage);
        return new ProducerRecord<>(deadLetterTopic, null, original.timestamp(), original.key(),
                toBytes(value.toByteBuffer()), headers);
    }

    private static void put(RecordHeaders headers, String name, String value) {
        headers.remove(HEADER_PREFIX + name);
        headers.add(HEADER_PREFIX + name, value.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] toBytes(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.get(bytes);
        return bytes;
    }
}
