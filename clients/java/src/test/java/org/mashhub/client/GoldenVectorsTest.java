package org.mashhub.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * schemas/avro/vectors, checked with Apache Avro's Java library: the canonical form and
 * fingerprint of each generated record, the example's encoding, and the decoding of the
 * bytes mash-hub's Python side wrote.
 */
class GoldenVectorsTest {
    private static final Path SCHEMAS = Path.of(System.getProperty("mash.schemas"));
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();

    @TestFactory
    Stream<DynamicTest> everyRecordHasAVector() throws IOException {
        List<Path> schemas;
        try (Stream<Path> files = Files.list(SCHEMAS)) {
            schemas = files.filter(p -> p.toString().endsWith(".avsc")).sorted().toList();
        }
        assertFalse(schemas.isEmpty());
        return schemas.stream().map(avsc -> {
            String name = avsc.getFileName().toString().replace(".avsc", "");
            return DynamicTest.dynamicTest(name, () -> check(name));
        });
    }

    private static void check(String name) throws Exception {
        JsonNode vector = JSON.readTree(SCHEMAS.resolve("vectors").resolve(name + ".json").toFile());
        Schema schema = SpecificData.get().getSchema(Class.forName("mash." + name));

        assertEquals(vector.get("canonical_form").asText(), SchemaNormalization.toParsingForm(schema),
                name + ": canonical form");
        long fingerprint = SchemaNormalization.parsingFingerprint64(schema);
        assertEquals(vector.get("fingerprint_long").asLong(), fingerprint, name + ": fingerprint");
        assertEquals(vector.get("fingerprint_hex").asText(), Main.littleEndianHex(fingerprint));

        // The example, read from Avro's JSON encoding and single-object encoded by Java,
        // is byte for byte what Python wrote.
        byte[] expected = HEX.parseHex(vector.get("encoded_hex").asText());
        GenericData model = GenericData.get();
        Object example = new GenericDatumReader<Object>(schema, schema, model).read(null,
                org.apache.avro.io.DecoderFactory.get().jsonDecoder(schema,
                        JSON.writeValueAsString(vector.get("example"))));
        byte[] javaBytes = DeadLetters.toBytes(
                new BinaryMessageEncoder<Object>(model, schema).encode(example));
        assertArrayEquals(expected, javaBytes, name + ": Java's encoding of the example");

        // Python's bytes decode with the generated class's own decoder, and re-encode the same.
        SpecificData specific = SpecificData.getForSchema(schema);
        Object decoded = new BinaryMessageDecoder<Object>(specific, schema)
                .decode(ByteBuffer.wrap(expected));
        byte[] again = DeadLetters.toBytes(
                new BinaryMessageEncoder<Object>(specific, schema).encode(decoded));
        assertArrayEquals(expected, again, name + ": decode and re-encode");
    }
}
