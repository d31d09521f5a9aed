package org.mashhub.client;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.avro.AvroRuntimeException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consume, handle, produce, then commit: at-least-once, the shape every mash-hub client
 * has. Each polled batch is handled in order (subclasses may reorder across topics, never
 * within a partition); its outputs are flushed and acknowledged before its offsets are
 * committed, so a crash redelivers rather than loses. A poison record is dead-lettered; any
 * other failure stops the loop without committing.
 *
 * <p>Keys are the contract's string ids (UTF-8); the producer keeps the Java client's default
 * partitioner, murmur2 of the key bytes, which is the partitioning rule of the contract.
 */
public abstract class RecordLoop implements Runnable, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RecordLoop.class);

    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> producer;
    private final List<String> topics;
    private final Topics names;
    private final String stage;
    private volatile boolean stopping;

    protected RecordLoop(Properties connection, String groupId, List<String> topics,
            Topics names, String stage) {
        Properties c = new Properties();
        c.putAll(connection);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "5000");
        Properties p = new Properties();
        p.putAll(connection);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        this.consumer = new KafkaConsumer<>(c);
        this.producer = new KafkaProducer<>(p);
        this.topics = List.copyOf(topics);
        this.names = names;
        this.stage = stage;
    }

    /** The records to publish for one input record; throw PoisonRecordException to dead-letter. */
    protected abstract List<ProducerRecord<String, byte[]>> handle(
            ConsumerRecord<String, byte[]> record) throws PoisonRecordException, IOException;

    /** Order of handling within a batch; stable, so each partition keeps its order. */
    protected Comparator<ConsumerRecord<String, byte[]>> order() {
        return (a, b) -> 0;
    }

    @Override
    public void run() {
        consumer.subscribe(topics, new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                LOG.info("ready: assigned {} partitions of {}", partitions.size(), topics);
            }
        });
        try {
            while (!stopping) {
                List<ConsumerRecord<String, byte[]>> batch = new ArrayList<>();
                consumer.poll(Duration.ofMillis(500)).forEach(batch::add);
                if (batch.isEmpty()) {
                    continue;
                }
                batch.sort(order());
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (ConsumerRecord<String, byte[]> record : batch) {
                    for (ProducerRecord<String, byte[]> out : outputs(record)) {
                        sent.add(producer.send(out));
                    }
                }
                producer.flush();
                for (Future<RecordMetadata> future : sent) {
                    future.get(); // a failed send stops the loop before the commit
                }
                consumer.commitSync();
            }
        } catch (WakeupException e) {
            if (!stopping) {
                throw e;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | IOException e) {
            throw new IllegalStateException("stopping without committing: " + e.getClass().getName(), e);
        } finally {
            consumer.close();
            producer.close();
        }
    }

    private List<ProducerRecord<String, byte[]>> outputs(ConsumerRecord<String, byte[]> record)
            throws IOException {
        try {
            return handle(record);
        } catch (PoisonRecordException e) {
            return List.of(deadLetter(record, e.reasonCode(), e.getMessage(), e.getClass()));
        } catch (AvroRuntimeException e) {
            // Bad marker, unknown fingerprint or a garbled body: never a payload in the text.
            return List.of(deadLetter(record, "UNDECODABLE",
                    "not a readable record (" + e.getClass().getSimpleName() + ")", e.getClass()));
        }
    }

    private ProducerRecord<String, byte[]> deadLetter(ConsumerRecord<String, byte[]> record,
            String code, String reason, Class<?> failure) throws IOException {
        LOG.warn("dead-lettering {}[{}]@{}: {} {}", record.topic(), record.partition(),
                record.offset(), code, reason);
        return DeadLetters.of(record, names.deadLetter(), stage, code, reason, failure);
    }

    /** Asks the loop to stop; safe from another thread (a shutdown hook). */
    @Override
    public void close() {
        stopping = true;
        consumer.wakeup();
    }
}
