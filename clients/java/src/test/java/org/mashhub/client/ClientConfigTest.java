package org.mashhub.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Properties;
import org.junit.jupiter.api.Test;

class ClientConfigTest {
    private static Properties librdkafka() {
        Properties p = new Properties();
        p.put("bootstrap.servers", "broker:9093");
        p.put("security.protocol", "SASL_SSL");
        p.put("sasl.mechanism", "SCRAM-SHA-512");
        p.put("sasl.username", "adapter-police");
        p.put("sasl.password", "s3\"cret");
        p.put("ssl.ca.location", "/etc/mash/ca.pem");
        return p;
    }

    @Test
    void translatesScramOverTlsForTheJavaClient() {
        Properties java = ClientConfig.translate(librdkafka());
        assertEquals("broker:9093", java.get("bootstrap.servers"));
        assertEquals("SASL_SSL", java.get("security.protocol"));
        assertEquals("SCRAM-SHA-512", java.get("sasl.mechanism"));
        assertEquals("org.apache.kafka.common.security.scram.ScramLoginModule required "
                + "username=\"adapter-police\" password=\"s3\\\"cret\";", java.get("sasl.jaas.config"));
        assertEquals("PEM", java.get("ssl.truststore.type"));
        assertEquals("/etc/mash/ca.pem", java.get("ssl.truststore.location"));
        assertFalse(java.containsKey("sasl.username"));
    }

    @Test
    void refusesKeysItDoesNotKnow() {
        Properties p = librdkafka();
        p.put("ssl.key.password", "x");
        assertThrows(IllegalArgumentException.class, () -> ClientConfig.translate(p));
    }

    @Test
    void refusesSaslWithoutCredentials() {
        Properties p = librdkafka();
        p.remove("sasl.password");
        assertThrows(IllegalArgumentException.class, () -> ClientConfig.translate(p));
    }
}
