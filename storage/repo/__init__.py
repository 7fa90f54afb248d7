"""Repository functions: one module per table, each taking `session=` and never committing."""
