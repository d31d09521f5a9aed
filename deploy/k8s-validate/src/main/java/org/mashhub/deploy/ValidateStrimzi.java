package org.mashhub.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import io.strimzi.api.kafka.model.user.KafkaUser;
import java.io.File;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Parses every Strimzi resource (group kafka.strimzi.io) of the YAML files given into
 * Strimzi's typed API model and fails on what the model does not know.
 *
 * <p>Strimzi's model keeps unknown fields instead of rejecting them (each class has an
 * additionalProperties map, which the operator only warns about), so after parsing this
 * walks the object graph and reports every non-empty additionalProperties with its path.
 * Unknown enum values and unknown polymorphic types (a listener authentication "type", say)
 * fail in the parser itself. Other API groups are left to kubernetes-validate.
 *
 * <p>Prints one line per resource ("ok Kind/name") or per problem; exits 1 on any problem.
 */
public final class ValidateStrimzi {
    private static final String GROUP = "kafka.strimzi.io/";
    private static final Set<String> VERSIONS = Set.of("kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1");
    private static final Map<String, Class<?>> KINDS = Map.of(
            "Kafka", Kafka.class,
            "KafkaNodePool", KafkaNodePool.class,
            "KafkaTopic", KafkaTopic.class,
            "KafkaUser", KafkaUser.class);

    private ValidateStrimzi() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: ValidateStrimzi FILE.yaml...");
            System.exit(2);
        }
        ObjectMapper mapper = new ObjectMapper(new YAMLFactory())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
        List<String> problems = new ArrayList<>();
        int checked = 0;
        for (String name : args) {
            try (MappingIterator<JsonNode> docs = mapper.readerFor(JsonNode.class).readValues(new File(name))) {
                int index = 0;
                while (docs.hasNext()) {
                    JsonNode doc = docs.next();
                    index++;
                    if (doc == null || doc.isNull() || doc.isMissingNode()) {
                        continue;
                    }
                    String apiVersion = doc.path("apiVersion").asText("");
                    if (!apiVersion.startsWith(GROUP)) {
                        continue;
                    }
                    String kind = doc.path("kind").asText("");
                    String where = name + " #" + index + " " + kind + "/" + doc.path("metadata").path("name").asText("?");
                    if (!VERSIONS.contains(apiVersion)) {
                        problems.add(where + ": apiVersion " + apiVersion + " is not one Strimzi serves");
                        continue;
                    }
                    Class<?> type = KINDS.get(kind);
                    if (type == null) {
                        problems.add(where + ": no such Strimzi kind");
                        continue;
                    }
                    List<String> found = new ArrayList<>();
                    try {
                        Object typed = mapper.treeToValue(doc, type);
                        walk(typed, kind, found, new IdentityHashMap<>());
                    } catch (Exception e) {
                        found.add(e.getMessage().split("\n")[0]);
                    }
                    for (String problem : found) {
                        problems.add(where + ": " + problem);
                    }
                    if (found.isEmpty()) {
                        System.out.println("ok " + kind + "/" + doc.path("metadata").path("name").asText());
                    }
                    checked++;
                }
            }
        }
        for (String problem : problems) {
            System.out.println("ERROR " + problem);
        }
        System.out.println(checked + " Strimzi resources checked, " + problems.size() + " problems");
        System.exit(problems.isEmpty() ? 0 : 1);
    }

    /** Reports every additionalProperties entry below `value`, with its path. */
    private static void walk(Object value, String path, List<String> found, Map<Object, Boolean> seen) {
        if (value == null || seen.containsKey(value)) {
            return;
        }
        if (value instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) {
                walk(item, path + "[" + i++ + "]", found, seen);
            }
            return;
        }
        if (value instanceof Map<?, ?> entries) {
            for (Map.Entry<?, ?> entry : entries.entrySet()) {
                walk(entry.getValue(), path + "." + entry.getKey(), found, seen);
            }
            return;
        }
        String pkg = value.getClass().getPackageName();
        if (!pkg.startsWith("io.strimzi.") && !pkg.startsWith("io.fabric8.")) {
            return;
        }
        seen.put(value, Boolean.TRUE);
        for (Method method : value.getClass().getMethods()) {
            if (method.getParameterCount() != 0 || Modifier.isStatic(method.getModifiers())
                    || !method.getName().startsWith("get") || method.getName().equals("getClass")) {
                continue;
            }
            Object child;
            try {
                child = method.invoke(value);
            } catch (ReflectiveOperationException | RuntimeException e) {
                continue;
            }
            String field = Character.toLowerCase(method.getName().charAt(3)) + method.getName().substring(4);
            if (method.getName().equals("getAdditionalProperties")) {
                if (child instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    for (Object key : extra.keySet()) {
                        found.add("unknown field " + path + "." + key);
                    }
                }
                continue;
            }
            walk(child, path + "." + field, found, seen);
        }
    }
}
