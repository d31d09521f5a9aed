package org.mashhub.client;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Builds the Kafka Java client's connection properties, either from a librdkafka-style
 * properties file (the per-principal files the hub issues to every client) or, with no
 * file, a plaintext bootstrap for a development broker.
 *
 * <p>The file's keys are librdkafka's: bootstrap.servers, security.protocol, sasl.mechanism,
 * sasl.username, sasl.password, ssl.ca.location (a PEM CA file) and optionally
 * ssl.endpoint.identification.algorithm. An unknown key is an error, so no setting is ever
 * silently dropped.
 */
public final class ClientConfig {
    private static final Set<String> KNOWN = Set.of(
            "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username",
            "sasl.password", "ssl.ca.location", "ssl.endpoint.identification.algorithm",
            "client.id");
    private static final Map<String, String> SCRAM_MODULES = Map.of(
            "SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule",
            "SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule",
            "PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule");

    private ClientConfig() {
    }

    /** Plaintext, for a development broker only. */
    public static Properties plaintext(String bootstrapServers) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrapServers);
        props.put("security.protocol", "PLAINTEXT");
        return props;
    }

    /** Reads a librdkafka-style file and translates it for the Java client. */
    public static Properties fromFile(Path file) throws IOException {
        Properties raw = new Properties();
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            raw.load(reader);
        }
        return translate(raw);
    }

    /** librdkafka keys to Java client keys. */
    public static Properties translate(Properties librdkafka) {
        for (String key : librdkafka.stringPropertyNames()) {
            if (!KNOWN.contains(key)) {
                throw new IllegalArgumentException("unsupported client config key: " + key);
            }
        }
        String bootstrap = required(librdkafka, "bootstrap.servers");
        String protocol = librdkafka.getProperty("security.protocol", "PLAINTEXT")
                .toUpperCase(Locale.ROOT);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", protocol);
        if (librdkafka.containsKey("client.id")) {
            props.put("client.id", librdkafka.getProperty("client.id"));
        }
        if (protocol.startsWith("SASL_")) {
            String mechanism = required(librdkafka, "sasl.mechanism").toUpperCase(Locale.ROOT);
            String module = SCRAM_MODULES.get(mechanism);
            if (module == null) {
                throw new IllegalArgumentException("unsupported sasl.mechanism: " + mechanism);
            }
            props.put("sasl.mechanism", mechanism);
            props.put("sasl.jaas.config", module + " required username=\""
                    + jaasQuote(required(librdkafka, "sasl.username")) + "\" password=\""
                    + jaasQuote(required(librdkafka, "sasl.password")) + "\";");
        }
        if (protocol.endsWith("SSL")) {
            String ca = librdkafka.getProperty("ssl.ca.location");
            if (ca != null) {
                props.put("ssl.truststore.type", "PEM");
                props.put("ssl.truststore.location", ca);
            }
            String identification = librdkafka.getProperty("ssl.endpoint.identification.algorithm");
            if (identification != null) {
                // librdkafka says "none" where the Java client wants an empty string.
                props.put("ssl.endpoint.identification.algorithm",
                        "none".equalsIgnoreCase(identification) ? "" : identification);
            }
        }
        return props;
    }

    private static String required(Properties props, String key) {
        String value = props.getProperty(key);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("client config lacks " + key);
        }
        return value;
    }

    private static String jaasQuote(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"");
    }
}
