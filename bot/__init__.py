"""ScopeLock's center: the process entry point, settings, and the Telegram bot."""
