package org.mashhub.client;

/**
 * A record that can never be processed: it is dead-lettered and the partition moves on.
 * The message names the problem in words an operator can act on and holds no personal data.
 */
public final class PoisonRecordException extends Exception {
    private static final long serialVersionUID = 1L;
    private final String reasonCode;

    public PoisonRecordException(String reasonCode, String message) {
        super(message);
        this.reasonCode = reasonCode;
    }

    public String reasonCode() {
        return reasonCode;
    }
}
