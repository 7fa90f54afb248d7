"""The Telegram side of ScopeLock: the PTB Application, its handlers, and the outbox sender."""
