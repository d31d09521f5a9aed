package org.mashhub.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class TopicsTest {
    @Test
    void namesFollowTheContract() {
        Topics t = new Topics("t1.");
        assertEquals(List.of("t1.mash.requests.police.red", "t1.mash.requests.police.amber",
                "t1.mash.requests.police.green"), t.requests("police"));
        assertEquals("t1.mash.responses.police", t.responses("police"));
        assertEquals("t1.mash-adapter-police", t.adapterGroup("police"));
        assertEquals("t1.mash-hub-main", t.hubGroup("main"));
        assertEquals("mash.cases.assembled", new Topics(null).assembled());
    }
}
