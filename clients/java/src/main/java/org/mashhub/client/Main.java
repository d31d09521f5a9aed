package org.mashhub.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.specific.SpecificData;

/**
 * Command line:
 * <pre>
 *   adapter --agency police [--response-topic T] [connection]
 *   hub --hub-id main [connection]
 *   fingerprints --schemas DIR        (name and fingerprint of every generated record)
 * connection: --client-config FILE (librdkafka-style, SASL_SSL) | --bootstrap HOST:PORT
 *             (plaintext, development only); --prefix P (topic and group prefix)
 * </pre>
 * The adapter's response topic defaults to the agency's own, {prefix}mash.responses.{agency}.
 */
public final class Main {
    private static final Set<String> FLAGS = Set.of("--agency", "--response-topic", "--hub-id",
            "--client-config", "--bootstrap", "--prefix", "--schemas");

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage("no command");
        }
        Map<String, String> options = options(args);
        switch (args[0]) {
            case "adapter" -> {
                Topics topics = new Topics(options.get("--prefix"));
                String agency = required(options, "--agency");
                String responses = options.getOrDefault("--response-topic",
                        topics.responses(agency));
                runUntilStopped(new Adapter(connection(options), topics, agency, responses,
                        Adapter::notKnown, Clock.systemUTC()));
            }
            case "hub" -> {
                Topics topics = new Topics(options.get("--prefix"));
                runUntilStopped(new HubSystem(connection(options), topics,
                        required(options, "--hub-id"), Clock.systemUTC()));
            }
            case "fingerprints" -> {
                for (Map.Entry<String, Long> e : fingerprints(
                        Path.of(required(options, "--schemas"))).entrySet()) {
                    System.out.println(e.getKey() + " " + littleEndianHex(e.getValue()));
                }
            }
            default -> usage("unknown command " + args[0]);
        }
    }

    /** Java's fingerprint of every current record, from the classes Avro generated. */
    public static Map<String, Long> fingerprints(Path schemaDir) throws IOException,
            ClassNotFoundException {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(schemaDir, "*.avsc")) {
            files.forEach(f -> names.add(f.getFileName().toString().replace(".avsc", "")));
        }
        names.sort(null);
        Map<String, Long> out = new java.util.LinkedHashMap<>();
        for (String name : names) {
            Schema schema = SpecificData.get().getSchema(Class.forName("mash." + name));
            out.put(name, SchemaNormalization.parsingFingerprint64(schema));
        }
        return out;
    }

    /** The fingerprint as the 8 bytes of the single-object header, in hex. */
    public static String littleEndianHex(long fingerprint) {
        byte[] bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(fingerprint).array();
        StringBuilder hex = new StringBuilder();
        for (byte b : bytes) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    private static Properties connection(Map<String, String> options) throws IOException {
        String file = options.get("--client-config");
        if (file != null) {
            return ClientConfig.fromFile(Path.of(file));
        }
        return ClientConfig.plaintext(required(options, "--bootstrap"));
    }

    private static void runUntilStopped(RecordLoop loop) throws InterruptedException {
        Thread worker = new Thread(loop, "record-loop");
        // A loop that fails has not committed what it failed on; exit non-zero so a
        // supervisor restarts it and the record is redelivered.
        worker.setUncaughtExceptionHandler((thread, failure) -> {
            org.slf4j.LoggerFactory.getLogger(Main.class).error("stopped: {}", failure.toString());
            Runtime.getRuntime().halt(1);
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            loop.close();
            try {
                worker.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        worker.start();
        worker.join();
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> out = new HashMap<>();
        for (int i = 1; i < args.length; i += 2) {
            if (!FLAGS.contains(args[i]) || i + 1 >= args.length) {
                usage("bad option " + args[i]);
            }
            out.put(args[i], args[i + 1]);
        }
        return out;
    }

    private static String required(Map<String, String> options, String flag) {
        String value = options.get(flag);
        if (value == null) {
            usage("missing " + flag);
        }
        return value;
    }

    private static void usage(String problem) {
        System.err.println(problem + "\nusage: adapter --agency A [--response-topic T] | "
                + "hub --hub-id H | fingerprints --schemas DIR; with --client-config FILE "
                + "or --bootstrap HOST:PORT, and --prefix P");
        System.exit(2);
    }
}
