package org.mashhub.client;

import java.util.List;
import java.util.Locale;
import mash.Rag;

/**
 * The contract's topic names and consumer group ids, under an optional prefix
 * (docs/contract.md, docs/adapters.md, docs/hub-systems.md).
 */
public record Topics(String prefix) {
    public Topics {
        prefix = prefix == null ? "" : prefix;
    }

    /** An agency's request topics, Red first. */
    public List<String> requests(String agency) {
        return List.of(request(agency, Rag.RED), request(agency, Rag.AMBER),
                request(agency, Rag.GREEN));
    }

    public String request(String agency, Rag rag) {
        return prefix + "mash.requests." + agency + "." + rag.name().toLowerCase(Locale.ROOT);
    }

    /** The agency's own response topic: inbound topics are per sender. */
    public String responses(String agency) {
        return prefix + "mash.responses." + agency;
    }

    public String assembled() {
        return prefix + "mash.cases.assembled";
    }

    public String decisions() {
        return prefix + "mash.decisions";
    }

    public String deadLetter() {
        return prefix + "mash.deadletter";
    }

    public String adapterGroup(String agency) {
        return prefix + "mash-adapter-" + agency;
    }

    public String hubGroup(String hubId) {
        return prefix + "mash-hub-" + hubId;
    }
}
